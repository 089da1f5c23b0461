#!/usr/bin/env bash
# Builds the control-plane binaries envtest needs (kube-apiserver, etcd, kubectl) from the Go module
# proxy, because setup-envtest downloads prebuilt binaries from the internet, which is not reachable
# here. Source modules come through `go`, so GOPROXY/GOFLAGS apply as for any other dependency.
#
# Output: bin/k8s/<version>/{kube-apiserver,etcd,kubectl}. A finished build is also kept in a per-user
# cache (~/.cache/kubepay) so a fresh clone on the same machine links it instead of rebuilding.
# Prints the asset directory on its last line of stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASSETS="${ROOT}/bin/k8s/${K8S_VERSION}"
CACHE="${KUBEPAY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubepay}/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
BINARIES=(kube-apiserver etcd kubectl)

log() { echo "[control-plane] $*" >&2; }

have_all() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do [ -x "${dir}/${b}" ] || return 1; done
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
