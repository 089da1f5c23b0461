#!/usr/bin/env bash
# Provides the control-plane binaries envtest needs (kube-apiserver, etcd, kubectl), in this order:
#   1. bin/k8s/<version> already filled;
#   2. a finished source build in the per-user cache (~/.cache/kubepay), so a fresh clone on the same
#      machine copies it instead of rebuilding;
#   3. setup-envtest's prebuilt binaries: seconds on a machine with internet access. setup-envtest
#      itself comes from the Go module proxy; its download (GitHub) is bounded by a short timeout;
#   4. a build from source through the Go module proxy (about 14 minutes on 2 cores), for machines
#      that reach the proxy but not GitHub, and for versions with no prebuilt release.
# Source modules come through `go`, so GOPROXY/GOFLAGS apply as for any other dependency.
#
# Output: bin/k8s/<version>/{kube-apiserver,etcd,kubectl}.
# Prints the asset directory on its last line of stdout; progress goes to stderr.
#
# Knobs (environment): KUBEPAY_TOOLS_CACHE (per-user cache root), SETUP_ENVTEST_VERSION,
# SETUP_ENVTEST_TIMEOUT (seconds for the prebuilt download, default 60), KUBEPAY_PREBUILT=0 (skip
# step 3), KUBEPAY_SOURCE_BUILD=0 (fail instead of step 4, e.g. where 14 minutes of CPU are not
# wanted), SETUP_ENVTEST (a setup-envtest command to use instead of installing one) and
# KUBEPAY_ASSETS_DIR (instead of bin/k8s/<version>); the last two exist for the script's own test.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.0}"
# The setup-envtest release published with controller-runtime v0.25 (go.mod).
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-v0.25.1}"
SETUP_ENVTEST_TIMEOUT="${SETUP_ENVTEST_TIMEOUT:-60}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASSETS="${KUBEPAY_ASSETS_DIR:-${ROOT}/bin/k8s/${K8S_VERSION}}"
TOOLS_CACHE="${KUBEPAY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubepay}"
CACHE="${TOOLS_CACHE}/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
BINARIES=(kube-apiserver etcd kubectl)

log() { echo "[control-plane] $*" >&2; }

have_all() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do [ -x "${dir}/${b}" ] || return 1; done
}

# bounded runs a command for at most $1 seconds where coreutils' timeout exists.
bounded() {
  local seconds="$1"; shift
  if command -v timeout >/dev/null; then timeout "${seconds}" "$@"; else "$@"; fi
}

# setup_envtest_command prints the setup-envtest to run, installing the pinned release into the
# per-user cache the first time (it is a Go module, so this works wherever the proxy does).
setup_envtest_command() {
  if [ -n "${SETUP_ENVTEST:-}" ]; then echo "${SETUP_ENVTEST}"; return; fi
  local tool="${TOOLS_CACHE}/setup-envtest-${SETUP_ENVTEST_VERSION}" gobin
  if [ ! -x "${tool}" ]; then
    gobin="$(mktemp -d)"
    bounded 300 env GOBIN="${gobin}" go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" >&2 || { rm -rf "${gobin}"; return 1; }
    mkdir -p "${TOOLS_CACHE}"
    mv -f "${gobin}/setup-envtest" "${tool}"
    rm -rf "${gobin}"
  fi
  echo "${tool}"
}

# prebuilt fills ASSETS from setup-envtest's release of K8S_VERSION. It fails, saying why in one
# line, when setup-envtest or GitHub cannot be reached in time or no release of that version exists.
prebuilt() {
  local tool out errlog dir
  if ! tool="$(setup_envtest_command)"; then
    log "setup-envtest ${SETUP_ENVTEST_VERSION} could not be installed from the module proxy"
    return 1
  fi
  errlog="$(mktemp)"
  log "trying setup-envtest's prebuilt binaries for ${K8S_VERSION} (at most ${SETUP_ENVTEST_TIMEOUT}s)"
  if ! out="$(bounded "${SETUP_ENVTEST_TIMEOUT}" "${tool}" use "${K8S_VERSION}" --bin-dir "${TOOLS_CACHE}/setup-envtest" -p path 2>"${errlog}")"; then
    log "no prebuilt binaries: $(tail -n 1 "${errlog}" | cut -c1-300)"
    rm -f "${errlog}"
    return 1
  fi
  rm -f "${errlog}"
  dir="$(printf '%s\n' "${out}" | tail -n 1)"
  if ! have_all "${dir}"; then
    log "setup-envtest answered ${dir:-nothing}, which lacks one of ${BINARIES[*]}"
    return 1
  fi
  mkdir -p "${ASSETS}"
  for b in "${BINARIES[@]}"; do cp -f "${dir}/${b}" "${ASSETS}/${b}"; done
  log "prebuilt binaries from ${dir}"
}

if have_all "${ASSETS}"; then
  log "reusing ${ASSETS}"
  echo "${ASSETS}"
  exit 0
fi

mkdir -p "${ASSETS}"
if have_all "${CACHE}"; then
  log "copying cached binaries from ${CACHE}"
  for b in "${BINARIES[@]}"; do cp -f "${CACHE}/${b}" "${ASSETS}/${b}"; done
  echo "${ASSETS}"
  exit 0
fi

if [ "${KUBEPAY_PREBUILT:-1}" != 0 ] && prebuilt; then
  echo "${ASSETS}"
  exit 0
fi
if [ "${KUBEPAY_SOURCE_BUILD:-1}" = 0 ]; then
  log "KUBEPAY_SOURCE_BUILD=0: not building the control plane from source"
  exit 1
fi
log "building the control plane from source instead"

WORK="${CACHE}/src"
mkdir -p "${WORK}/k8s" "${WORK}/etcd"
start=$(date +%s)

# kubernetes' own go.mod replaces every k8s.io staging module with a path inside its repository;
# outside that repository those paths do not exist, so each is mapped to the published module of
# the matching minor version (v1.X.Y -> v0.X.Y).
log "resolving k8s.io/kubernetes v${K8S_VERSION} from the module proxy"
k8s_mod=$(cd "${WORK}/k8s" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "${k8s_mod}" ] || { log "could not download k8s.io/kubernetes v${K8S_VERSION}"; exit 1; }
staging_version="v0.${K8S_VERSION#*.}"

{
  echo "module kubepay.local/controlplane"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes v${K8S_VERSION}"
  echo
  echo "replace ("
  sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*$|\t\1 => \1 '"${staging_version}"'|p' "${k8s_mod}"
  echo ")"
} > "${WORK}/k8s/go.mod"
cat > "${WORK}/k8s/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO

cat > "${WORK}/etcd/go.mod" <<MOD
module kubepay.local/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
MOD
cat > "${WORK}/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

log "resolving etcd v${ETCD_VERSION} modules"
(cd "${WORK}/etcd" && GOFLAGS=-mod=mod go mod tidy >&2)
log "building etcd (about 1-2 minutes on 2 cores the first time)"
(cd "${WORK}/etcd" && CGO_ENABLED=0 go build -trimpath -o "${CACHE}/etcd" . >&2)
log "etcd built after $(( $(date +%s) - start ))s"

log "resolving kubernetes modules"
(cd "${WORK}/k8s" && GOFLAGS=-mod=mod go mod tidy >&2)
log "building kubectl"
(cd "${WORK}/k8s" && CGO_ENABLED=0 go build -trimpath -o "${CACHE}/kubectl" k8s.io/kubernetes/cmd/kubectl >&2)
log "kubectl built after $(( $(date +%s) - start ))s"
log "building kube-apiserver (about 10 minutes on 2 cores the first time)"
(cd "${WORK}/k8s" && CGO_ENABLED=0 go build -trimpath -o "${CACHE}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2)
log "kube-apiserver built after $(( $(date +%s) - start ))s"

for b in "${BINARIES[@]}"; do cp -f "${CACHE}/${b}" "${ASSETS}/${b}"; done
log "control plane ready in ${ASSETS} ($(( $(date +%s) - start ))s)"
echo "${ASSETS}"
