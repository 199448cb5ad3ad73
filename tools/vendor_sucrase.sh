#!/bin/sh
# Rebuild taro_udp/js/_vendor/sucrase.js (and its LICENSE) from the npm packages.
#
# The bundle is sucrase's `transform` with its dependencies in one IIFE script that
# defines the global `sucrase`; taro_udp evaluates it in a QuickJS context of its own
# (taro_udp/js/_transform.py), so nothing of Node is needed at run time. Needs node and
# npm only to rebuild. Run from the repository root:  sh tools/vendor_sucrase.sh
# A rebuild at the same pinned versions gives the same bytes: after running it,
# `git diff --exit-code taro_udp/js/_vendor` shows no change.
set -eu
SUCRASE_VERSION=3.35.1
ESBUILD_VERSION=0.28.2
out="$(pwd)/taro_udp/js/_vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
# --ignore-scripts: esbuild's postinstall only checks its binary, which npm installs as
# the optional dependency @esbuild/<platform> anyway.
npm install --no-audit --no-fund --ignore-scripts \
    "sucrase@$SUCRASE_VERSION" "esbuild@$ESBUILD_VERSION" >/dev/null
echo 'export { transform, getVersion } from "sucrase";' >entry.js
./node_modules/.bin/esbuild entry.js --bundle --format=iife --global-name=sucrase \
    --target=es2020 --platform=neutral --main-fields=main,module --minify \
    --legal-comments=inline --metafile=meta.json --log-level=warning --outfile=sucrase.js
{
    printf '// sucrase %s (https://github.com/alangpierce/sucrase), MIT licence,\n' "$SUCRASE_VERSION"
    printf '// bundled with its dependencies by tools/vendor_sucrase.sh (esbuild %s).\n' "$ESBUILD_VERSION"
    printf '// Licences: LICENSE next to this file.\n'
    cat sucrase.js
} >"$out/sucrase.js"
# One LICENSE with the licence of every npm package the bundle took code from.
node -e '
const fs = require("fs");
const meta = JSON.parse(fs.readFileSync("meta.json", "utf8"));
const names = new Set();
for (const input of Object.keys(meta.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) names.add(m[1]);
}
let text = "The file sucrase.js in this folder bundles code of these npm packages.\n";
for (const name of [...names].sort()) {
  const dir = "node_modules/" + name;
  const pkg = JSON.parse(fs.readFileSync(dir + "/package.json", "utf8"));
  const file = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
  text += "\n" + "=".repeat(78) + "\n" + name + " " + pkg.version + " (" + pkg.license + ")\n";
  text += "=".repeat(78) + "\n\n";
  text += file ? fs.readFileSync(dir + "/" + file, "utf8").trim() + "\n" : "(no licence file in the package)\n";
}
fs.writeFileSync(process.argv[1], text);
' "$out/LICENSE"
echo "wrote $out/sucrase.js and $out/LICENSE"
