#!/usr/bin/env bash
# `make test`: unit + integration tests (cargo; integration tests start their own Milvus Lite
# on a free port), then the Playwright end-to-end tests against a real `shihua serve`.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
cargo test -p app --features ssr || status=1
cargo test -p server || status=1
# The client visitors get (release, wasm-opt, hashed, pre-compressed): the page-weight e2e
# test measures it. The server stays a debug build (docs/site.md).
scripts/build-site.sh --release-client || exit 1
scripts/e2e.sh || status=1
# The site under a sub-path, as behind a reverse proxy (--base-path): its own server and spec.
SHIHUA_E2E_BASE=/shihua scripts/e2e.sh base-path.spec.ts || status=1
exit $status
