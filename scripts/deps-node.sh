#!/usr/bin/env bash
# Installs the npm packages the tests use (package.json: playwright-core, s3rver, cfn-lint) with `npm ci`,
# only when node_modules is missing or older than package-lock.json. Quiet when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "deps-node: npm not found (apt-get install npm)" >&2; exit 1; }
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
  exit 0
fi
echo "deps-node: npm ci" >&2
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null
touch "$stamp"
