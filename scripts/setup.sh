#!/usr/bin/env bash
# Installs everything shihua needs that is missing, pinned. Idempotent: re-running is cheap.
#   scripts/setup.sh          runtime needs (Rust wasm target, wasm-bindgen-cli, Python venv with
#                             Milvus Lite + ONNX Runtime)
#   scripts/setup.sh --e2e    also Chromium and the Playwright test runner (for make test)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
E2E=0
[ "${1:-}" = "--e2e" ] && E2E=1

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# Debian packages: as root directly, otherwise through sudo; a normal user without sudo is told
# exactly what to ask an administrator for.
apt_install() {
  local SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || {
      echo "setup needs the Debian package(s) $*: ask an administrator to run 'apt-get install $*' (no sudo here)" >&2
      exit 1
    }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "$@"
}

# 1. Rust toolchain pieces
command -v cargo >/dev/null || { echo "cargo not found: install Rust from rustup first" >&2; exit 1; }
if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  say "adding Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  say "installing wasm-bindgen-cli $WB_VERSION (about 2 minutes)"
  # no --locked: the CLI's own lockfile pins a crate version the registry no longer serves
  cargo install wasm-bindgen-cli --version "$WB_VERSION" --force
fi

# wasm-opt for release clients: npm binaryen, pinned (Debian's binaryen 108 breaks hydration).
BINARYEN_VERSION=132.0.0
if [ "$(.tools/binaryen/node_modules/.bin/wasm-opt --version 2>/dev/null | awk '{print $3}')" != "${BINARYEN_VERSION%%.*}" ]; then
  command -v npm >/dev/null || { echo "npm not found: install Node.js (apt install nodejs npm)" >&2; exit 1; }
  say "installing binaryen $BINARYEN_VERSION (wasm-opt) into .tools/binaryen"
  mkdir -p .tools/binaryen
  # A package.json of its own instead of `--prefix .`: with --prefix npm also takes its global
  # config from there, and loses the machine's (e.g. the `cafile` a TLS proxy needs).
  [ -f .tools/binaryen/package.json ] || echo '{"private": true}' > .tools/binaryen/package.json
  (cd .tools/binaryen && npm install --no-audit --no-fund "binaryen@$BINARYEN_VERSION")
fi

# 2. Python venv: Milvus Lite + ONNX Runtime (its shared library is what Rust loads)
if [ ! -x .venv/bin/python ]; then
  say "creating Python venv in .venv"
  python3 -m venv .venv
fi
missing_py() {
  local have; have=$(.venv/bin/python -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-')
  grep -v '^#' requirements.txt | grep . | tr 'A-Z_' 'a-z-' | while read -r req; do
    grep -qxF "$req" <<<"$have" || echo "$req"
  done
}
if [ -n "$(missing_py)" ]; then
  say "installing Python packages from requirements.txt"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
fi

# Noto Serif CJK: the server typesets share cards with it (and the e2e screenshots need CJK
# glyphs, or Chinese text would be boxes).
if ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
  say "installing Debian fonts-noto-cjk"
  apt_install fonts-noto-cjk
fi

# 3. End-to-end test tools: Debian Chromium + Playwright (never Playwright's own browser download)
if [ "$E2E" = 1 ]; then
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian chromium"
    apt_install chromium
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    say "installing Playwright test runner (npm ci)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
fi
say "ok"
