#!/usr/bin/env bash
# Vendors Swagger UI from the npm package swagger-ui-dist at the version pinned below:
# fetches the package's tarball with npm pack (no install, so none of the package's
# scripts run), checks it against the pinned integrity and copies only the files the
# docs page serves into this directory. Run it after changing version and integrity,
# then go test ./internal/apidocs (it checks the bundle's own version against this
# file) and look at /docs of a running sluice dev.
#
#   internal/apidocs/swaggerui/update.sh
#
# The integrity of a version: npm view swagger-ui-dist@VERSION dist.integrity
set -euo pipefail
cd "$(dirname "$0")"

version=5.36.0
integrity=sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==

# The files served (the bundle, its stylesheet) and the license texts that go with them
# (the bundle's first line points at swagger-ui-bundle.js.LICENSE.txt). Keep this list
# and the go:embed line of apidocs.go the same.
files=(swagger-ui-bundle.js swagger-ui.css swagger-ui-bundle.js.LICENSE.txt LICENSE NOTICE)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tgz=$(cd "$tmp" && npm pack --silent --ignore-scripts "swagger-ui-dist@$version")
got=$(node -e 'const c = require("crypto"), fs = require("fs");
console.log("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tmp/$tgz")
if [[ "$got" != "$integrity" ]]; then
  echo "update.sh: swagger-ui-dist@$version has integrity $got, pinned $integrity" >&2
  exit 1
fi
tar -xzf "$tmp/$tgz" -C "$tmp" "${files[@]/#/package/}"
for f in "${files[@]}"; do
  cp "$tmp/package/$f" "$f"
done
echo "update.sh: swagger-ui-dist@$version: ${files[*]}" >&2
