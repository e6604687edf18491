#!/usr/bin/env bash
# `make test`: unit + integration tests (cargo; integration tests start their own Milvus Lite
# on a free port), then the Playwright end-to-end tests against a real `shihua serve`.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
cargo test -p app --features ssr || status=1
cargo test -p server || status=1
scripts/build-site.sh || exit 1
scripts/e2e.sh || status=1
exit $status
