#!/usr/bin/env bash
# `make run`: get the model if it is missing, index the bundled demo photos (unchanged photos
# are skipped on later runs) and serve the site. It always ends with a working site:
#
#   - the chosen model (MODEL=…, default ViT-B-16) is installed        -> index + serve with it;
#   - it is missing and the hub (or HF_ENDPOINT / SHIHUA_MODELS_BASE_URL) answers
#                                                                     -> download, verify, install
#                                                                        (`--fetch-missing`), then
#                                                                        index + serve with it;
#   - it is missing and cannot be installed (offline, 4xx/5xx, checksum mismatch…): shihua prints
#     one paragraph on how to get it and exits 3    -> index + serve the FIXTURE model instead.
#
# MODEL=fixture runs on the random-weight fixture model directly. The fixture always uses its
# own data folder (data/fixture), and every model other than the default its own (data/<id>),
# so a later run that gets the real model never mixes collections.
#
# For tests: SHIHUA_BIN (default target/release/shihua), RUN_PHOTOS (default demo/photos),
# RUN_DATA (default ./data), RUN_SERVE=0 (stop after indexing).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SHIHUA_BIN:-target/release/shihua}
PORT=${PORT:-3000}
MODEL=${MODEL:-}
PHOTOS=${RUN_PHOTOS:-demo/photos}
DATA=${RUN_DATA:-./data}
export LEPTOS_SITE_ROOT=${LEPTOS_SITE_ROOT:-target/site}
MANIFEST="${SHIHUA_MODEL_DIR:-models}/manifest.toml"
USER_MILVUS_URI=${MILVUS_URI:-}

fixture_banner() {
  cat <<'MSG'
==========================================================================================
  FIXTURE MODEL: random weights stand in for Chinese-CLIP. Everything runs for real
  (ONNX Runtime, Milvus, the site), but the search results are NOT meaningful.
==========================================================================================
MSG
}

# on_server URI: true when URI names a Milvus server rather than a local Milvus Lite file.
on_server() {
  case "$1" in http://* | https://* | tcp://*) return 0 ;; *) return 1 ;; esac
}

# use_model ID FOLDER: run ID with its data in FOLDER (on a Milvus server: in a collection of
# its own, unless ID is the default model), unless the user chose MILVUS_URI for a local file.
use_model() {
  export SHIHUA_MODEL="$1"
  if on_server "$USER_MILVUS_URI"; then
    export MILVUS_URI="$USER_MILVUS_URI"
    if [ "$1" != "$DEFAULT_MODEL" ]; then
      export SHIHUA_COLLECTION="${SHIHUA_COLLECTION:-multimodal_chinese_clip}_$(echo "$1" | tr -c 'A-Za-z0-9\n' _)"
    fi
  else
    export MILVUS_URI="${USER_MILVUS_URI:-$2/milvus.db}"
  fi
  export SHIHUA_DATA_DIR="${USER_DATA_DIR:-$2}"
}

# use_fixture_instead: the real model could not be installed; the fixture must never share
# the real model's data, whatever MILVUS_URI / SHIHUA_DATA_DIR say.
use_fixture_instead() {
  USER_DATA_DIR=""
  if ! on_server "$USER_MILVUS_URI"; then USER_MILVUS_URI=""; fi
  use_model fixture "$DATA/fixture"
}

index_and_serve() {
  if ! "$BIN" index "$@" "$PHOTOS"; then
    echo >&2
    echo "shihua could not index the demo photos (see the message above)." >&2
    if [ "${SHIHUA_MODEL:-}" != fixture ]; then
      echo "Without real Chinese-CLIP weights you can still try everything: make run MODEL=fixture" >&2
    fi
    exit 1
  fi
  serve_site
}

# The poem corpus for 以图寻诗 (resumable: instant once done), then the site.
serve_site() {
  if [ "${RUN_SERVE:-1}" = 0 ]; then
    echo "run.sh: indexed with model $SHIHUA_MODEL into ${MILVUS_URI}; not serving (RUN_SERVE=0)"
    exit 0
  fi
  "$BIN" poems index
  # The demo folder stays watched: photos added to it are indexed within seconds.
  exec "$BIN" serve --addr "127.0.0.1:$PORT" --watch "$PHOTOS"
}

DEFAULT_MODEL=$(awk '/^\[\[model\]\]/ {id = ""} /^id *=/ {gsub(/[" ]/, "", $0); sub(/^id=/, "", $0); id = $0}
  /^default *= *true/ {print id; exit}' "$MANIFEST")
MODEL=${MODEL:-$DEFAULT_MODEL}
USER_DATA_DIR=${SHIHUA_DATA_DIR:-}

if [ "$MODEL" = fixture ]; then
  use_model fixture "$DATA/fixture"
  fixture_banner
  index_and_serve
fi

# Every model but the default has a data folder of its own (its own dimension, too).
if [ "$MODEL" = "$DEFAULT_MODEL" ]; then use_model "$MODEL" "$DATA"; else use_model "$MODEL" "$DATA/$MODEL"; fi

# The real model, fetched first when it is missing; exit status 3: it could not be.
set +e
"$BIN" index --fetch-missing "$PHOTOS"
rc=$?
set -e
if [ "$rc" = 3 ]; then
  echo "Going on with the fixture model for now: \`make run\` again switches to $MODEL once it can be downloaded." >&2
  use_fixture_instead
  fixture_banner
  index_and_serve
elif [ "$rc" != 0 ]; then
  echo >&2
  echo "shihua could not index the demo photos (see the message above)." >&2
  echo "Without real Chinese-CLIP weights you can still try everything: make run MODEL=fixture" >&2
  exit 1
fi
serve_site
