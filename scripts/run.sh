#!/usr/bin/env bash
# One entry point for a fresh machine: makes sure a Node.js >= 22.12 is on PATH (installing the
# node@24 package from the npm registry into .tools/node when the machine's node is older), installs
# the workspace's packages when they are missing or stale, then runs `npm run <script> [args...]`.
#   scripts/run.sh start    # local cluster on the embedded coordinator (samsa dev: exits 1, saying why
#                           # in one line, when a port or the data directory is taken or a member fails)
#   scripts/run.sh test     # the whole test suite
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

node_ok() {
  hash -r # PATH lookups are cached: forget a node found before .tools/node existed
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)'
}

if ! node_ok; then
  export PATH="$root/.tools/node/node_modules/.bin:$PATH"
  if ! node_ok; then
    echo "samsa: installing Node.js 24 into .tools/node (the machine's node is missing or older than 22.12)" >&2
    npm install --prefix "$root/.tools/node" --no-save --no-audit --no-fund node@24 >&2
    if ! node_ok; then
      # npm 11 may hold back the package's install script; allow it explicitly and try once more.
      npm install --prefix "$root/.tools/node" --no-save --no-audit --no-fund --dangerously-allow-all-scripts=true node@24 >&2
    fi
    node_ok || { echo "samsa: could not install a Node.js >= 22.12" >&2; exit 1; }
  fi
fi

stamp="node_modules/.samsa-install-stamp"
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "samsa: installing packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
  touch "$stamp"
fi

script="${1:-start}"
shift || true
exec npm run --silent "$script" -- "$@"
