#!/usr/bin/env bash
# `make run`: index the bundled demo photos (unchanged photos are skipped on later runs) and
# serve the site. MODEL=fixture runs on the random-weight fixture model, with its own data
# folder so it never mixes with real embeddings.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/shihua
PORT=${PORT:-3000}
MODEL=${MODEL:-}
if [ -n "$MODEL" ]; then
  export SHIHUA_MODEL="$MODEL"
fi
if [ "$MODEL" = fixture ]; then
  export MILVUS_URI=${MILVUS_URI:-./data/fixture/milvus.db} SHIHUA_DATA_DIR=${SHIHUA_DATA_DIR:-./data/fixture}
  cat <<'MSG'
==========================================================================================
  FIXTURE MODEL: random weights stand in for Chinese-CLIP. Everything runs for real
  (ONNX Runtime, Milvus, the site), but the search results are NOT meaningful.
==========================================================================================
MSG
fi
export LEPTOS_SITE_ROOT=target/site
if ! "$BIN" index demo/photos; then
  echo >&2
  echo "shihua could not index the demo photos (see the message above)." >&2
  echo "Without real Chinese-CLIP weights you can still try everything: make run MODEL=fixture" >&2
  exit 1
fi
"$BIN" poems index  # the poem corpus for 以图寻诗 (resumable: instant once done)
exec "$BIN" serve --addr "127.0.0.1:$PORT"
