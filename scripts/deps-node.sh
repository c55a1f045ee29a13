#!/usr/bin/env bash
# Installs the npm packages the tests use (package.json: playwright-core, s3rver, cfn-lint) with `npm ci`,
# only when node_modules is missing or older than package-lock.json. Quiet when up to date. Then
# checks that this machine's Node.js is one every installed package supports (its "engines"
# field): playwright-core is pinned to the last release that runs on Debian 12's Node.js 18.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "deps-node: node not found (apt-get install nodejs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "deps-node: npm not found (apt-get install npm)" >&2; exit 1; }
stamp=node_modules/.package-lock.json
if ! { [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; }; then
  echo "deps-node: npm ci" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null
  touch "$stamp"
fi
node - <<'JS'
// Every "engines.node" of the lockfile is of the form ">=N[.M[.P]]" (or a range that any Node
// 18 satisfies); a ">=" one above this Node's version is a package that will not run here.
const lock = require('./package-lock.json');
const have = process.versions.node.split('.').map(Number);
const older = (a, b) => { for (let i = 0; i < 3; i++) if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) < (b[i] || 0); return false; };
const bad = [];
for (const [path, p] of Object.entries(lock.packages || {})) {
  const m = /^>=\s*(\d+(?:\.\d+){0,2})\s*$/.exec((p.engines && p.engines.node) || '');
  if (path && m && older(have, m[1].split('.').map(Number))) bad.push(`${path.replace(/^node_modules\//, '')} needs Node.js ${p.engines.node}`);
}
if (bad.length) {
  console.error(`deps-node: this machine's Node.js is ${process.versions.node}, but\n  ${bad.join('\n  ')}\n` +
    'Pin a release of those packages that supports it in package.json (npm install --save-exact), or install a newer Node.js.');
  process.exit(1);
}
JS
