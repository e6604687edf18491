#!/usr/bin/env bash
# Builds the site the way cargo-leptos would, with plain cargo + wasm-bindgen:
#   the server binary (features ssr) and the hydrating WASM client (features hydrate) in
#   SEPARATE cargo calls (one call would unify both feature sets into `app`), then
#   wasm-bindgen into target/site/pkg, CSS and public files next to it.
# Usage: scripts/build-site.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=debug
SERVER_FLAGS=()
WASM_FLAGS=()
if [ "${1:-}" = "--release" ]; then
  PROFILE=release
  SERVER_FLAGS=(--release)
  WASM_FLAGS=(--profile wasm-release)
fi
WASM_DIR=debug
[ "$PROFILE" = release ] && WASM_DIR=wasm-release

cargo build -p server "${SERVER_FLAGS[@]}"
cargo build -p frontend --target wasm32-unknown-unknown "${WASM_FLAGS[@]}"

SITE=target/site
rm -rf "$SITE/pkg"
mkdir -p "$SITE/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$SITE/pkg" --out-name shihua \
  "target/wasm32-unknown-unknown/$WASM_DIR/frontend.wasm"
cp style/main.css "$SITE/pkg/shihua.css"
cp -r public/. "$SITE/"
echo "site built: $SITE ($PROFILE)"
