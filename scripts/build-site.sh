#!/usr/bin/env bash
# Builds the site the way cargo-leptos would, with plain cargo + wasm-bindgen:
#   the server binary (features ssr) and the hydrating WASM client (features hydrate) in
#   SEPARATE cargo calls (one call would unify both feature sets into `app`), then
#   wasm-bindgen into target/site/pkg, CSS and public files next to it.
# Usage: scripts/build-site.sh [--release | --release-client]
#   --release         release server and release client
#   --release-client  debug server, release client (what `make test` serves: the page-weight
#                     e2e test measures the client visitors get; see docs/site.md)
# A release client is shrunk with wasm-opt -Oz (npm binaryen, pinned, installed by
# scripts/setup.sh), given content-hashed names listed in pkg/assets.json, and stored with
# brotli (.br) and gzip (.gz) copies that the server sends to browsers that accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER_FLAGS=()
WASM_FLAGS=()
SERVER_PROFILE=debug
CLIENT_PROFILE=debug
case "${1:-}" in
  --release) SERVER_PROFILE=release; CLIENT_PROFILE=release ;;
  --release-client) CLIENT_PROFILE=release ;;
  "") ;;
  *) echo "usage: $0 [--release | --release-client]" >&2; exit 2 ;;
esac
[ "$SERVER_PROFILE" = release ] && SERVER_FLAGS=(--release)
WASM_DIR=debug
if [ "$CLIENT_PROFILE" = release ]; then
  WASM_FLAGS=(--profile wasm-release)
  WASM_DIR=wasm-release
fi
# wasm-opt from npm binaryen (Debian's binaryen 108 produces a client that never hydrates).
WASM_OPT=.tools/binaryen/node_modules/.bin/wasm-opt
if [ "$CLIENT_PROFILE" = release ] && [ ! -x "$WASM_OPT" ]; then
  echo "build-site: $WASM_OPT is missing: run scripts/setup.sh (installs npm binaryen)" >&2
  exit 1
fi

cargo build -p server "${SERVER_FLAGS[@]}"
cargo build -p frontend --target wasm32-unknown-unknown "${WASM_FLAGS[@]}"

SITE=target/site
rm -rf "$SITE/pkg"
mkdir -p "$SITE/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$SITE/pkg" --out-name shihua \
  "target/wasm32-unknown-unknown/$WASM_DIR/frontend.wasm"
cp style/main.css "$SITE/pkg/shihua.css"
cp -r public/. "$SITE/"

if [ "$CLIENT_PROFILE" = release ]; then
  PKG=$SITE/pkg
  before=$(stat -c %s "$PKG/shihua_bg.wasm")
  # The features rustc's wasm32 target uses; wasm-opt must not lower them.
  "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types \
    -o "$PKG/shihua_bg.opt.wasm" "$PKG/shihua_bg.wasm"
  mv "$PKG/shihua_bg.opt.wasm" "$PKG/shihua_bg.wasm"
  echo "wasm-opt -Oz: $before -> $(stat -c %s "$PKG/shihua_bg.wasm") bytes"
  # Content-hashed names: a changed file is a new URL, so browsers may keep each for a year.
  hashed() { echo "$1.$(sha256sum "$PKG/$2" | cut -c1-16).$3"; }
  JS=$(hashed shihua shihua.js js)
  WASM=$(hashed shihua shihua_bg.wasm wasm)
  CSS=$(hashed shihua shihua.css css)
  mv "$PKG/shihua.js" "$PKG/$JS"
  mv "$PKG/shihua_bg.wasm" "$PKG/$WASM"
  mv "$PKG/shihua.css" "$PKG/$CSS"
  printf '{"js":"%s","wasm":"%s","css":"%s"}\n' "$JS" "$WASM" "$CSS" > "$PKG/assets.json"
  # Pre-compressed copies (brotli 11 through Node's zlib, gzip -9).
  for f in "$JS" "$WASM" "$CSS"; do
    gzip -9 -n -k "$PKG/$f"
    node -e 'const z=require("zlib"),fs=require("fs"),f=process.argv[1];
      fs.writeFileSync(f+".br", z.brotliCompressSync(fs.readFileSync(f),
        {params:{[z.constants.BROTLI_PARAM_QUALITY]:11,[z.constants.BROTLI_PARAM_SIZE_HINT]:fs.statSync(f).size}}));' "$PKG/$f"
    echo "  $f: $(stat -c %s "$PKG/$f") B, gzip $(stat -c %s "$PKG/$f.gz") B, brotli $(stat -c %s "$PKG/$f.br") B"
  done
fi
echo "site built: $SITE (server $SERVER_PROFILE, client $CLIENT_PROFILE)"
