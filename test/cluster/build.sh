#!/usr/bin/env bash
# Builds the binaries of the integration-test control plane from published Go modules:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
#
# The binaries are cached outside the repository, keyed by version, so a second run with a
# warm cache does nothing. The last line on stdout is the directory that holds them;
# everything else goes to stderr.
#
# Exit codes: 0 built or cached; 1 build failed (or Go missing in CI); 3 Go is missing on a
# developer machine, so integration tests should be skipped loudly.
#
# Environment:
#   FIGWAY_CACHE_DIR  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/figway)
#   CI=true           a missing Go is a failure, not a skip
set -euo pipefail

# Pinned so that the cache key is stable; bump deliberately (latest patches on the proxy).
ETCD_VERSION=v3.6.16
K8S_VERSION=v1.35.4
KWOK_VERSION=v0.7.0
# Fixed, so builds are reproducible; Helm and clients only read gitVersion.
BUILD_DATE=2026-01-01T00:00:00Z

CACHE_ROOT=${FIGWAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/figway}
BIN_DIR=$CACHE_ROOT/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION
SRC_DIR=$CACHE_ROOT/src
LOG_DIR=$CACHE_ROOT/logs
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

BUILD_NAME=cluster
# shellcheck source=test/cluster/build-steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-steps.sh"

all_built() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x $BIN_DIR/$b ]] || return 1; done
}

build_etcd() {
  [[ -x $BIN_DIR/etcd ]] && return 0
  local dir=$SRC_DIR/etcd-$ETCD_VERSION logfile=$LOG_DIR/build-etcd-$ETCD_VERSION.log
  : >"$logfile"
  mkdir -p "$dir"
  # A wrapper module: `go install ...@version` refuses modules with replace directives.
  cat >"$dir/go.mod" <<EOF
module figway.dev/testcluster/etcd

go 1.25.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

tool go.etcd.io/etcd/server/v3
EOF
  (cd "$dir" && step etcd "$logfile" go mod tidy)
  (cd "$dir" && step etcd "$logfile" go build -p 2 -trimpath -ldflags "-s -w" -o "$dir/etcd.out" go.etcd.io/etcd/server/v3)
  install_bin "$dir/etcd.out" etcd
}

build_kwok() {
  [[ -x $BIN_DIR/kwok ]] && return 0
  local dir=$SRC_DIR/kwok-$KWOK_VERSION logfile=$LOG_DIR/build-kwok-$KWOK_VERSION.log
  : >"$logfile"
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<EOF
module figway.dev/testcluster/kwok

go 1.24.0

require sigs.k8s.io/kwok $KWOK_VERSION

tool sigs.k8s.io/kwok/cmd/kwok
EOF
  (cd "$dir" && step kwok "$logfile" go mod tidy)
  (cd "$dir" && step kwok "$logfile" go build -p 2 -trimpath -ldflags "-s -w" -o "$dir/kwok.out" sigs.k8s.io/kwok/cmd/kwok)
  install_bin "$dir/kwok.out" kwok
}

build_kubernetes() {
  local missing=0 b
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x $BIN_DIR/$b ]] || missing=1
  done
  ((missing)) || return 0
  local dir=$SRC_DIR/kubernetes-$K8S_VERSION logfile=$LOG_DIR/build-kubernetes-$K8S_VERSION.log
  : >"$logfile"
  mkdir -p "$dir"

  # k8s.io/kubernetes pins its staging modules (k8s.io/api, client-go, ...) at v0.0.0 and
  # replaces them with ./staging paths, which a dependent module ignores. Replace each with
  # the published v0.X.Y that matches this release, reading the list from its go.mod.
  local modjson gomod
  modjson=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>>"$logfile") || {
    log "ERROR: downloading k8s.io/kubernetes@$K8S_VERSION failed (log: $logfile)"
    exit 1
  }
  gomod=$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  if [[ ! -f $gomod ]]; then
    log "ERROR: could not find go.mod of k8s.io/kubernetes@$K8S_VERSION (log: $logfile)"
    exit 1
  fi
  local staging_version=v0.${K8S_VERSION#v1.}
  local staging
  staging=$(awk '
    /^require[[:space:]]*\(/ { inreq = 1; next }
    inreq && /^\)/ { inreq = 0; next }
    inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }
    /^require[[:space:]]+k8s\.io\/[^ ]+[[:space:]]+v0\.0\.0/ { print $2 }
  ' "$gomod" | sort -u)
  if [[ -z $staging ]]; then
    log "ERROR: found no staging modules pinned at v0.0.0 in $gomod"
    exit 1
  fi
  # The main module's go and godebug lines decide runtime defaults: match upstream's.
  local goline godebugline
  goline=$(grep -m1 '^go ' "$gomod")
  godebugline=$(grep -m1 '^godebug ' "$gomod" || true)
  {
    echo "module figway.dev/testcluster/kubernetes"
    echo
    echo "$goline"
    echo
    [[ -n $godebugline ]] && { echo "$godebugline"; echo; }
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    local m
    for m in $staging; do echo "	$m => $m $staging_version"; done
    echo ")"
    echo
    echo "tool ("
    echo "	k8s.io/kubernetes/cmd/kube-apiserver"
    echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
    echo "	k8s.io/kubernetes/cmd/kube-scheduler"
    echo ")"
  } >"$dir/go.mod"
  log "kubernetes: replaced $(echo "$staging" | wc -w) staging modules with $staging_version"

  local major=${K8S_VERSION#v}; major=${major%%.*}
  local minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  local ldflags="-s -w" key val
  for kv in "gitVersion=$K8S_VERSION" "gitMajor=$major" "gitMinor=$minor" \
    "gitTreeState=clean" "buildDate=$BUILD_DATE"; do
    key=${kv%%=*} val=${kv#*=}
    ldflags+=" -X k8s.io/component-base/version.$key=$val -X k8s.io/client-go/pkg/version.$key=$val"
  done

  (cd "$dir" && step kubernetes "$logfile" go mod tidy)
  mkdir -p "$dir/out"
  # One go build for the three commands, so shared packages compile once.
  (cd "$dir" && step kubernetes "$logfile" go build -p 2 -trimpath -ldflags "$ldflags" -o "$dir/out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    install_bin "$dir/out/$b" "$b"
  done
}

main() {
  # Fast path: a warm cache needs neither Go nor a lock.
  if all_built; then
    echo "$BIN_DIR"
    exit 0
  fi

  if ! command -v go >/dev/null 2>&1; then
    if [[ ${CI:-} == true ]]; then
      log "ERROR: Go is not installed, but CI=true: the integration-test control plane cannot be built."
      exit 1
    fi
    log "############################################################################"
    log "SKIP: Go is not installed, so the integration-test Kubernetes control plane"
    log "(etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) cannot be"
    log "built. Install Go >= 1.26 to run the integration tests."
    log "############################################################################"
    exit 3
  fi

  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false GO111MODULE=on

  # etcd v3.6.16's go.mod says `go 1.26.0`; with GOTOOLCHAIN=local an older Go cannot build it.
  GO_MIN_MINOR=26
  go_version=$(go env GOVERSION)
  go_minor=$(printf '%s' "$go_version" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  if [[ -z $go_minor || $go_minor -lt $GO_MIN_MINOR ]]; then
    msg="Go >= 1.$GO_MIN_MINOR is needed to build the test control plane, found $go_version"
    if [[ ${CI:-} == true ]]; then
      log "ERROR: $msg"
      exit 1
    fi
    log "SKIP: $msg"
    exit 3
  fi

  mkdir -p "$BIN_DIR" "$SRC_DIR" "$LOG_DIR"

  # One build at a time per cache: a second caller waits for the first, then finds the cache warm.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_ROOT/build.lock"
    if ! flock -w 3600 9; then
      log "ERROR: timed out after 1h waiting for another build holding $CACHE_ROOT/build.lock"
      exit 1
    fi
  fi
  if all_built; then
    echo "$BIN_DIR"
    exit 0
  fi

  local start
  start=$(date +%s)
  log "building into $BIN_DIR (Go: $(go version)); first build takes 15-40 minutes on 2 cores"
  build_etcd
  build_kwok
  build_kubernetes

  if ! all_built; then
    log "ERROR: build finished but binaries are missing in $BIN_DIR"
    exit 1
  fi
  log "done in $(($(date +%s) - start))s: $(du -sh "$BIN_DIR" | cut -f1) in $BIN_DIR"
  echo "$BIN_DIR"
}

# On one line, so that bash has read the whole file before anything runs: editing this
# script while a build is running then cannot derail the running build.
main "$@"; exit $?
