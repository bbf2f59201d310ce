#!/usr/bin/env bash
# Builds the upstream programs of the lab's real control plane from their Go modules (through the Go
# module proxy, with plain `go build`): kube-apiserver, kube-controller-manager, kube-scheduler and
# kubectl, etcd, istiod (pilot-discovery), podinfo and, if it builds, Flagger's load tester; and
# copies Istio's and Gateway API's CRDs out of the module cache.
#
# Each project has its own wrapper module under tests/lab/upstream/<project>/ (go.mod pins it).
# Output goes to ${XDG_CACHE_HOME:-$HOME/.cache}/progressive-delivery/<project>-<key>/, where the key
# hashes everything that decides the output (wrapper go.mod and go.sum, packages, ldflags, go
# version, GOOS/GOARCH, GOFLAGS), so a second run with nothing changed only checks folders. A build
# goes to a temporary folder first and is renamed into place: a folder with the final name is
# always complete. Finally it writes lab-binaries.json (absolute paths and pins) in the same place.
#
# Usage: scripts/build_lab_binaries.sh [--print-manifest]
#   Progress goes to stderr, one line per project; stdout gets the manifest (JSON), or with
#   --print-manifest only its path. GOFLAGS, GOMAXPROCS and GOTOOLCHAIN are passed to go as usual.
set -euo pipefail

print_manifest=false
case ${1-} in
"") ;;
--print-manifest) print_manifest=true ;;
-h | --help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "build_lab_binaries: unknown option: $1 (try --help)" >&2
	exit 2
	;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
upstream=$top/tests/lab/upstream
cache=${XDG_CACHE_HOME:-$HOME/.cache}/progressive-delivery
manifest=$cache/lab-binaries.json
# Bump when the layout of an output folder changes, so old folders are not taken as complete.
layout=1

export GOWORK=off
command -v go >/dev/null || { echo "build_lab_binaries: go is not installed" >&2; exit 1; }
mkdir -p "$cache"

go_version=$(go version)
go_target=$(go env GOOS GOARCH GOFLAGS | tr '\n' ' ')

tmpdirs=()
cleanup() { ((${#tmpdirs[@]} == 0)) || rm -rf "${tmpdirs[@]}"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Leftovers of runs killed too hard for the trap (a day old: not a build still running elsewhere).
find "$cache" -maxdepth 1 -name '.*.tmp.*' -mmin +1440 -exec rm -rf {} +

# Run a go command politely: others run tests on the same cores.
gox() { nice -n 10 go "$@"; }

# required_version DIR MODULE: the version DIR's go.mod requires of MODULE (a file go mod tidy
# formats: `require M V`, or `M V` inside a require block).
required_version() {
	local v
	v=$(awk -v m="$2" '$1 == "require" && $2 == m { print $3 } $1 == m && $2 ~ /^v/ { print $2 }' "$1/go.mod")
	[[ -n $v ]] || { echo "build_lab_binaries: $1/go.mod does not require $2" >&2; exit 1; }
	echo "$v"
}

# module_dir DIR MODULE: where MODULE (as DIR's go.mod pins it) sits in the module cache,
# downloading it if needed.
module_dir() {
	(cd "$1" && gox mod download "$2" && go list -m -f '{{.Dir}}' "$2")
}

# json STRING: STRING as a JSON string (control characters other than newline and tab dropped).
json() {
	local s
	s=$(printf '%s' "$1" | tr -d '\000-\010\013-\037')
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/\\t}
	printf '"%s"' "$s"
}

# key DIR CGO LDFLAGS PACKAGE...: hash of the inputs that decide the output folder.
key() {
	local dir=$1
	shift
	{
		echo "layout $layout"
		echo "$go_version $go_target"
		printf '%s\n' "$@"
		cat "$dir/go.mod" "$dir/go.sum"
	} | sha256sum | cut -c1-16
}

# complete OUT NAME...: OUT holds every named file (binaries executable).
complete() {
	local out=$1 f
	shift
	[[ -d $out ]] || return 1
	for f in "$@"; do
		case $f in
		*/) [[ -d $out/$f ]] || return 1 ;;
		*) [[ -x $out/$f ]] || return 1 ;;
		esac
	done
}

# new_tmp PROJECT KEY: sets $tmp to a fresh temporary folder in the cache, removed on exit unless
# renamed (not a $(...) call: the subshell would lose the tmpdirs entry).
new_tmp() {
	tmp=$(mktemp -d "$cache/.$1-$2.tmp.XXXXXX")
	tmpdirs+=("$tmp")
}

# publish TMP OUT: rename TMP into place. Another run may have won the race: its result is as good.
publish() {
	local tmp=$1 out=$2
	chmod 755 "$tmp"
	[[ ! -d $out ]] || rm -rf "$out" # incomplete (files removed by hand): replace it
	mv -T "$tmp" "$out" 2>/dev/null || [[ -d $out ]]
}

# go_build PROJECT CGO LDFLAGS "FILE..." LABEL PACKAGE...: build every package with one go build
# (shared compile) into the project's keyed folder, which must then hold every FILE (a name ending
# in / is a folder); sets $out. $post_build, if set, names a function run on the temporary folder
# before that check (rename a binary, add CRDs). Returns 1 when go build fails.
go_build() {
	local project=$1 cgo=$2 ldflags=$3 binaries=$4 label=$5
	shift 5
	local dir=$upstream/$project k start rc=0
	k=$(key "$dir" "CGO_ENABLED=$cgo" "$ldflags" "$@")
	out=$cache/$project-$k
	# shellcheck disable=SC2086 # binaries is a word list
	if complete "$out" $binaries; then
		echo "build: $label cached" >&2
		return 0
	fi
	printf 'build: %s ... ' "$label" >&2
	start=$SECONDS
	new_tmp "$project" "$k"
	(cd "$dir" && CGO_ENABLED=$cgo gox build -trimpath -ldflags "$ldflags" -o "$tmp/" "$@") >"$tmp/.build.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		echo "FAILED after $((SECONDS - start)) s" >&2
		sed 's/^/  /' "$tmp/.build.log" >&2
		build_log=$(cat "$tmp/.build.log")
		return 1
	fi
	rm -f "$tmp/.build.log"
	[[ -z ${post_build-} ]] || "$post_build" "$tmp"
	# shellcheck disable=SC2086
	complete "$tmp" $binaries || { echo "build_lab_binaries: go build left out some of: $binaries" >&2; exit 1; }
	publish "$tmp" "$out"
	echo "$((SECONDS - start)) s" >&2
}

# ---------------------------------------------------------------------------------------------
# Kubernetes: the four programs in one go build. Its staging modules are pinned by
# tests/lab/upstream/kubernetes/gen-replaces.sh.
k8s_dir=$upstream/kubernetes
k8s_version=$(required_version "$k8s_dir" k8s.io/kubernetes)
[[ $k8s_version =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "build_lab_binaries: odd k8s.io/kubernetes pin $k8s_version" >&2; exit 1; }
k8s_minor=${BASH_REMATCH[1]}
# Both version packages, as Kubernetes' own hack/lib/version.sh does: component-base's is what the
# servers (and /version) report, client-go's is kubectl's client version.
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done
k8s_bins="kube-apiserver kube-controller-manager kube-scheduler kubectl"
go_build kubernetes 0 "$k8s_ldflags" "$k8s_bins" "$k8s_bins (kubernetes $k8s_version)" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
k8s_out=$out

# ---------------------------------------------------------------------------------------------
# etcd: the server's main package (go.etcd.io/etcd/server/v3). Its version is a constant in
# go.etcd.io/etcd/api/v3/version; only the git revision could be stamped, and we do not know it.
etcd_dir=$upstream/etcd
etcd_version=$(required_version "$etcd_dir" go.etcd.io/etcd/server/v3)
# go build names the binary "server" (the path element before /v3): give it its real name.
etcd_rename() { mv "$1/server" "$1/etcd"; }
post_build=etcd_rename go_build etcd 0 "-s -w" "etcd" "etcd $etcd_version" go.etcd.io/etcd/server/v3
etcd_out=$out

# ---------------------------------------------------------------------------------------------
# istiod, plus Istio's CRDs copied from the same module.
istio_dir=$upstream/istio
istio_pin=$(required_version "$istio_dir" istio.io/istio)
istio_src=$(module_dir "$istio_dir" istio.io/istio)
istio_release=$(cat "$istio_src/VERSION") # release branch, e.g. 1.31
istio_commit=${istio_pin##*-}
# What Istio's own build stamps (common/scripts/report_build_info.sh): VERSION-dev off a tag.
istio_ldflags="-s -w -X istio.io/istio/pkg/version.buildVersion=$istio_release-dev"
istio_ldflags+=" -X istio.io/istio/pkg/version.buildGitRevision=$istio_commit -X istio.io/istio/pkg/version.buildStatus=Clean"
# Istio's CRDs travel with istiod: the same module, the same key.
istio_crds() {
	mkdir "$1/crds"
	if [[ -f $istio_src/manifests/charts/base/files/crd-all.gen.yaml ]]; then
		cp "$istio_src/manifests/charts/base/files/crd-all.gen.yaml" "$1/crds/"
	else # releases before 1.24
		cp "$istio_src"/manifests/charts/base/crds/*.yaml "$1/crds/"
	fi
	chmod 644 "$1"/crds/*.yaml
}
post_build=istio_crds go_build istio 0 "$istio_ldflags" "pilot-discovery crds/" \
	"pilot-discovery (istio $istio_release-dev, $istio_pin)" istio.io/istio/pilot/cmd/pilot-discovery
istio_out=$out

# ---------------------------------------------------------------------------------------------
# Gateway API's standard CRDs (no program to build).
gw_dir=$upstream/gateway-api
gw_version=$(required_version "$gw_dir" sigs.k8s.io/gateway-api)
gw_out=$cache/gateway-api-$(key "$gw_dir" crds)
if [[ -d $gw_out/crds ]]; then
	echo "build: gateway-api $gw_version CRDs cached" >&2
else
	gw_src=$(module_dir "$gw_dir" sigs.k8s.io/gateway-api)
	new_tmp gateway-api crds
	mkdir "$tmp/crds"
	cp "$gw_src"/config/crd/standard/*.yaml "$tmp/crds/"
	chmod 644 "$tmp"/crds/*.yaml
	publish "$tmp" "$gw_out"
	echo "build: gateway-api $gw_version CRDs copied" >&2
fi

# ---------------------------------------------------------------------------------------------
# podinfo. Its 6.x tags are not semver: the pin is the pseudo-version of a tag's commit, and the
# release is pkg/version.VERSION in that source. The lab can stamp another one per image tag with
# -X github.com/stefanprodan/podinfo/pkg/version.VERSION=<tag> (a re-link, seconds when warm).
podinfo_dir=$upstream/podinfo
podinfo_pin=$(required_version "$podinfo_dir" github.com/stefanprodan/podinfo)
podinfo_src=$(module_dir "$podinfo_dir" github.com/stefanprodan/podinfo)
podinfo_release=$(sed -n 's/^var VERSION = "\(.*\)"$/\1/p' "$podinfo_src/pkg/version/version.go")
[[ -n $podinfo_release ]] || { echo "build_lab_binaries: no VERSION in podinfo's pkg/version" >&2; exit 1; }
podinfo_ldflags="-s -w -X github.com/stefanprodan/podinfo/pkg/version.VERSION=$podinfo_release"
podinfo_ldflags+=" -X github.com/stefanprodan/podinfo/pkg/version.REVISION=${podinfo_pin##*-}"
go_build podinfo 0 "$podinfo_ldflags" "podinfo" "podinfo $podinfo_release ($podinfo_pin)" \
	github.com/stefanprodan/podinfo/cmd/podinfo
podinfo_out=$out

# ---------------------------------------------------------------------------------------------
# Flagger's load tester: optional. A failed build is remembered (per key) and not retried.
flagger_dir=$upstream/flagger
flagger_version=$(required_version "$flagger_dir" github.com/fluxcd/flagger)
flagger_ldflags="-s -w -X github.com/fluxcd/flagger/pkg/version.VERSION=${flagger_version#v}"
flagger_failed=$cache/flagger-$(key "$flagger_dir" "CGO_ENABLED=0" "$flagger_ldflags" github.com/fluxcd/flagger/cmd/loadtester).failed
loadtester=null
loadtester_error=null
if [[ -f $flagger_failed ]]; then
	echo "build: loadtester (flagger $flagger_version) failed before, not retried: $flagger_failed" >&2
	loadtester_error=$(json "$(cat "$flagger_failed")")
else
	build_log=
	if go_build flagger 0 "$flagger_ldflags" "loadtester" "loadtester (flagger $flagger_version, optional)" \
		github.com/fluxcd/flagger/cmd/loadtester; then
		loadtester=$(json "$out/loadtester")
	else
		printf '%s\n' "$build_log" >"$flagger_failed"
		loadtester_error=$(json "$(cat "$flagger_failed")")
	fi
fi

# ---------------------------------------------------------------------------------------------
tmp=$(mktemp "$cache/.lab-binaries.json.XXXXXX")
tmpdirs+=("$tmp")
cat >"$tmp" <<EOF
{
  "go": $(json "$go_version"),
  "binaries": {
    "kube-apiserver": $(json "$k8s_out/kube-apiserver"),
    "kube-controller-manager": $(json "$k8s_out/kube-controller-manager"),
    "kube-scheduler": $(json "$k8s_out/kube-scheduler"),
    "kubectl": $(json "$k8s_out/kubectl"),
    "etcd": $(json "$etcd_out/etcd"),
    "pilot-discovery": $(json "$istio_out/pilot-discovery"),
    "podinfo": $(json "$podinfo_out/podinfo"),
    "loadtester": $loadtester
  },
  "crds": {
    "istio": $(json "$istio_out/crds"),
    "gateway-api": $(json "$gw_out/crds")
  },
  "versions": {
    "kubernetes": $(json "$k8s_version"),
    "etcd": $(json "$etcd_version"),
    "istio": {"module": $(json "$istio_pin"), "release": $(json "$istio_release-dev")},
    "gateway-api": $(json "$gw_version"),
    "podinfo": {"module": $(json "$podinfo_pin"), "release": $(json "$podinfo_release")},
    "flagger": $(json "$flagger_version")
  },
  "loadtester_error": $loadtester_error
}
EOF
chmod 644 "$tmp"
mv "$tmp" "$manifest"

if $print_manifest; then
	echo "$manifest"
else
	cat "$manifest"
fi
