#!/usr/bin/env bash
# Builds the client into mobile/dist, where the Go binary embeds it from.
# Until the Vue app lands this copies the placeholder page.
set -euo pipefail
cd "$(dirname "$0")/../mobile"
mkdir -p dist
cp placeholder/index.html dist/index.html
