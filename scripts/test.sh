#!/usr/bin/env bash
# `make test`: unit + integration tests (cargo; integration tests start their own Milvus Lite
# on a free port), a compile check of the fuzz target (its own workspace in fuzz/), then the
# Playwright end-to-end tests against a real `shihua serve` (with `test.only` forbidden).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
cargo test -p app --features ssr || status=1
cargo test -p server --no-fail-fast || status=1
# The fuzz crate is outside the workspace: check it compiles against today's server API.
cargo check --manifest-path fuzz/Cargo.toml --target-dir target || status=1
# The client visitors get (release, wasm-opt, hashed, pre-compressed): the page-weight e2e
# test measures it. The server stays a debug build (docs/site.md).
scripts/build-site.sh --release-client || exit 1
SHIHUA_E2E_FORBID_ONLY=1 scripts/e2e.sh || status=1
# The site under a sub-path, as behind a reverse proxy (--base-path): its own server and spec.
SHIHUA_E2E_FORBID_ONLY=1 SHIHUA_E2E_BASE=/shihua scripts/e2e.sh base-path.spec.ts || status=1
exit $status
