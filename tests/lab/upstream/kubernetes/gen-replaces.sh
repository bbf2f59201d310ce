#!/usr/bin/env bash
# Pin every Kubernetes staging module (k8s.io/api, k8s.io/client-go, ...) to the release that
# matches the pinned k8s.io/kubernetes. As a dependency, k8s.io/kubernetes requires them at v0.0.0
# and replaces them with ./staging/src/... in its own go.mod, which a wrapper module cannot use.
# The list is read from that go.mod (fetched into the module cache), never typed by hand.
#
# Usage: gen-replaces.sh [v1.X.Y]   (default: the k8s.io/kubernetes version this go.mod requires)
# Rewrites this folder's go.mod (go mod edit) and runs go mod tidy.
set -euo pipefail
cd "$(dirname "$0")"

# go.mod files as go mod edit/tidy format them: `replace A => B V`, or `A => B V` inside a block.
replaced() { awk '$1 == "replace" && $3 == "=>" { print $2, $4 } $2 == "=>" { print $1, $3 }' "$1"; }

version=${1:-$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 } $1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2 }' go.mod)}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "gen-replaces: not a release version: $version" >&2; exit 2; }
staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

# go list -m fetches only the .info and .mod files, not the whole source zip. It runs outside this
# module: inside it, Go would try to load the v0.0.0 staging requirements that are being fixed.
modfile=$(cd / && GOWORK=off go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$version")
mapfile -t modules < <(replaced "$modfile" | awk '$2 ~ /^\.\/staging\// { print $1 }' | sort -u)
((${#modules[@]} > 0)) || { echo "gen-replaces: no staging replaces in $modfile" >&2; exit 1; }

# Drop the replaces of an earlier pin first, so a module that left staging does not stay behind.
args=(-require="k8s.io/kubernetes@$version")
while read -r old; do
	args+=(-dropreplace="$old")
done < <(replaced go.mod | awk '{ print $1 }')
for m in "${modules[@]}"; do
	args+=(-replace="$m=$m@$staging")
done
go mod edit "${args[@]}"
go mod tidy
echo "gen-replaces: k8s.io/kubernetes $version, ${#modules[@]} staging modules at $staging"
