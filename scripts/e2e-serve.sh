#!/usr/bin/env bash
# Started by Playwright (end2end/playwright.config.ts): a fresh data folder, the demo photos
# indexed with the fixture model into an embedded Milvus Lite, then `shihua serve` on :3100,
# watching target/e2e-data/watched.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SHIHUA_BIN:-target/debug/shihua}
DATA=target/e2e-data
rm -rf "$DATA"
mkdir -p "$DATA"
export SHIHUA_MODEL=fixture MILVUS_URI="$PWD/$DATA/milvus.db" SHIHUA_DATA_DIR="$PWD/$DATA"
export LEPTOS_SITE_ROOT=target/site RUST_LOG=${RUST_LOG:-warn}
"$BIN" index demo/photos
# Duplicates (end2end/tests/duplicates.spec.ts): one demo photo copied into two more folders
# (three identical files), and another saved again with a JPEG comment added (another file,
# the same picture: a near-identical photo). A second indexed folder, as a library has.
LIB=$DATA/library
mkdir -p "$LIB/2023-trip" "$LIB/phone-backup" "$LIB/edited"
cp demo/photos/budgie-backgrounds__lake-sherburne.jpg "$LIB/2023-trip/"
cp demo/photos/budgie-backgrounds__lake-sherburne.jpg "$LIB/phone-backup/"
{ printf '\xff\xd8\xff\xfe\x00\x0aedited!!'; tail -c +3 demo/photos/budgie-backgrounds__canyon-wren.jpg; } \
  > "$LIB/edited/budgie-backgrounds__canyon-wren.jpg"
"$BIN" index "$LIB"
"$BIN" poems index
# CSP violation reports from the whole run land in csp-reports.jsonl (end2end/csp-teardown.ts).
# SHIHUA_E2E_BASE=/shihua: the site under a sub-path, as behind a reverse proxy
# (end2end/tests/base-path.spec.ts).
BASE_ARGS=()
if [ -n "${SHIHUA_E2E_BASE:-}" ]; then
  BASE_ARGS=(--base-path "$SHIHUA_E2E_BASE" --public-url "http://shihua.example$SHIHUA_E2E_BASE")
fi
# A watched folder (end2end/tests/progress.spec.ts copies photos into it), read after 0.5 s
# of quiet instead of 2 s.
WATCHED="$PWD/$DATA/watched"
mkdir -p "$WATCHED"
# Every browser test comes from 127.0.0.1: the per-client picture limits (tested in
# server/tests/site_serve.rs) are lifted so that a long run is not throttled.
exec "$BIN" serve --addr "127.0.0.1:${SHIHUA_E2E_PORT:-3100}" \
  --picture-rate 100000 --picture-burst 10000 \
  --csp-report-log "$PWD/$DATA/csp-reports.jsonl" --watch "$WATCHED" --watch-settle-ms 500 \
  "${BASE_ARGS[@]}"
