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

version=${1:-$(go mod edit -json | jq -r '.Require[] | select(.Path == "k8s.io/kubernetes") | .Version')}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "gen-replaces: not a release version: $version" >&2; exit 2; }
staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

# go list -m fetches only the .info and .mod files, not the whole source zip. It runs outside this
# module: inside it, Go would try to load the v0.0.0 staging requirements that are being fixed.
modfile=$(cd / && GOWORK=off go list -m -json "k8s.io/kubernetes@$version" | jq -r .GoMod)
mapfile -t modules < <(go mod edit -json "$modfile" |
	jq -r '.Replace[] | select(.New.Path | startswith("./staging/")) | .Old.Path' | sort -u)
((${#modules[@]} > 0)) || { echo "gen-replaces: no staging replaces in $modfile" >&2; exit 1; }

# Drop the replaces of an earlier pin first, so a module that left staging does not stay behind.
args=(-require="k8s.io/kubernetes@$version")
while read -r old; do
	args+=(-dropreplace="$old")
done < <(go mod edit -json | jq -r '(.Replace // [])[] | .Old.Path')
for m in "${modules[@]}"; do
	args+=(-replace="$m=$m@$staging")
done
go mod edit "${args[@]}"
go mod tidy
echo "gen-replaces: k8s.io/kubernetes $version, ${#modules[@]} staging modules at $staging"
