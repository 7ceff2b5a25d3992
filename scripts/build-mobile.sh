#!/usr/bin/env bash
# Builds the H5/PC client (mobile/, Vue 3 + Vite) into mobile/dist, where the
# Go binary embeds it from (mobile/embed.go). npm ci runs only when
# node_modules is missing or package-lock.json changed since the last install,
# so repeat builds take a few seconds.
set -euo pipefail
cd "$(dirname "$0")/../mobile"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "build-mobile: node and npm are needed to build the client (Node.js >= 20.19)." >&2
  echo "build-mobile: on Debian: apt-get install -y nodejs npm" >&2
  echo "build-mobile: (Debian 12's own nodejs is 18, too old for Vite 8: use a Node.js 20.19+ nodejs package, e.g. NodeSource's)" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "build-mobile: Node.js $(node --version) is too old: the client's build (Vite 8) needs 20.19 or newer." >&2
  exit 1
fi

# npm ci when the lock file differs from the one node_modules was installed from.
stamp=node_modules/.signet-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "build-mobile: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

npm run --silent build
# vite.config.ts recreates dist/.gitkeep after emptying dist; make sure.
touch dist/.gitkeep
