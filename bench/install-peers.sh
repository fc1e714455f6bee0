#!/usr/bin/env bash
# Install the peers the bench compares Lamina with, under build/peers/ only (never into
# Lamina's own environment): MiniStack and cargo-lambda from PyPI in their own virtual
# environment, Serverless Framework v3 with serverless-offline from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=build/peers
mkdir -p "$PEERS/sls"
if [ ! -x "$PEERS/venv/bin/ministack" ] || [ ! -x "$PEERS/venv/bin/cargo-lambda" ]; then
    python3 -m venv "$PEERS/venv"
    "$PEERS/venv/bin/pip" install --quiet ministack cargo-lambda
fi
if [ ! -f "$PEERS/sls/node_modules/serverless-offline/package.json" ]; then
    (cd "$PEERS/sls" && { [ -f package.json ] || npm init -y >/dev/null; } &&
        npm install --no-audit --no-fund --silent serverless@3 serverless-offline@13)
fi
echo "peers installed under $PEERS"
