#!/usr/bin/env bash
# The store integration tests (server/tests/store_milvus.rs, server/tests/ingest_resume.rs,
# server/tests/ingest_shard.rs: three `--shard` workers on 300 photos, one killed and rerun;
# server/tests/filters.rs: the filter expressions, hostile values included)
# against a real Milvus standalone 2.3.5 instead of the embedded Milvus Lite: starts it with
# scripts/milvus-standalone.sh (installing it into .venv-milvus if missing, fresh data), runs
# the tests with SHIHUA_TEST_MILVUS_URI set, and always stops the server again.
# Extra arguments go to the test binaries, e.g. scripts/test-standalone.sh full_workflow
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${MILVUS_STANDALONE_PORT:-19530}
export MILVUS_STANDALONE_PORT=$PORT

say() { printf '\033[1;34m[test-standalone]\033[0m %s\n' "$*"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  scripts/milvus-standalone.sh stop || rc=1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
say "building the tests first (no server needed for that)"
cargo test -p server --test store_milvus --test ingest_resume --test ingest_shard --test filters --no-run
scripts/milvus-standalone.sh start --fresh
export SHIHUA_TEST_MILVUS_URI=http://127.0.0.1:$PORT
export SHIHUA_TEST_SHARD_PHOTOS=${SHIHUA_TEST_SHARD_PHOTOS:-300}
say "cargo test -p server --test store_milvus --test ingest_resume --test ingest_shard --test filters (SHIHUA_TEST_MILVUS_URI=$SHIHUA_TEST_MILVUS_URI, SHIHUA_TEST_SHARD_PHOTOS=$SHIHUA_TEST_SHARD_PHOTOS)"
cargo test -p server --test store_milvus --test ingest_resume --test ingest_shard --test filters -- "$@"
say "passed against Milvus standalone in $((SECONDS - started)) s"
