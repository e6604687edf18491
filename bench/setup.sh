#!/usr/bin/env bash
# Installs what `make bench` needs that is missing, pinned. Idempotent: re-running is cheap.
#   - .venv (Milvus Lite + ONNX Runtime) via scripts/setup.sh
#   - .venv-bench: CPython 3.11 venv with bench/requirements.txt (torch 2.14.1 + cn_clip 1.6.0
#     for the reference loop, onnxruntime 1.31.1, pymilvus, httpx), installed --no-deps
#     (the file is the complete, exact set; ~5.6 GB with torch's CUDA libraries)
#   - wrk 4.1.0 (Debian) for the HTTP latency runs
#   - models/ViT-B-16-random (fp32 + int8, ~940 MB): exported with models/export/export.py
#     --random if missing (2-3 minutes)
#   - target/release/shihua
#   - with --cuda: onnxruntime-gpu (bench/requirements-cuda.txt) into .venv-bench/ort-gpu, for
#     `bench/run.py --device cuda` (needs an NVIDIA GPU and driver to run, not to install)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1;34m[bench-setup]\033[0m %s\n' "$*"; }

scripts/setup.sh

PY311=$(command -v python3.11 || true)
[ -n "$PY311" ] || { echo "python3.11 not found (bench/requirements.txt is for CPython 3.11)" >&2; exit 1; }
if [ ! -x .venv-bench/bin/python ]; then
  say "creating .venv-bench (CPython 3.11)"
  "$PY311" -m venv .venv-bench
fi
STAMP=.venv-bench/.requirements.sha256
WANT=$(cat bench/requirements.txt models/export/requirements.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  say "installing bench/requirements.txt into .venv-bench (torch is large: a few minutes)"
  .venv-bench/bin/python -m pip install -q --disable-pip-version-check --no-deps -r bench/requirements.txt
  echo "$WANT" > "$STAMP"
fi

if [ "${1:-}" = "--cuda" ]; then
  GPU_STAMP=.venv-bench/ort-gpu/.requirements.sha256
  WANT_GPU=$(sha256sum bench/requirements-cuda.txt | cut -d' ' -f1)
  if [ "$(cat "$GPU_STAMP" 2>/dev/null)" != "$WANT_GPU" ]; then
    say "installing onnxruntime-gpu into .venv-bench/ort-gpu (a 256 MB wheel)"
    rm -rf .venv-bench/ort-gpu
    .venv-bench/bin/python -m pip install -q --disable-pip-version-check --no-deps \
      --target .venv-bench/ort-gpu -r bench/requirements-cuda.txt
    echo "$WANT_GPU" > "$GPU_STAMP"
  fi
fi

if ! command -v wrk >/dev/null; then
  say "installing Debian wrk"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq wrk
fi

M=models/ViT-B-16-random
if [ ! -f $M/image.onnx ] || [ ! -f $M/text.onnx ] || [ ! -f $M/image.int8.onnx ] || [ ! -f $M/text.int8.onnx ]; then
  say "exporting $M (random weights, fp32 + int8; 2-3 minutes, ~3 GB peak memory)"
  .venv-bench/bin/python models/export/export.py --model ViT-B-16 --random --out $M --int8
fi

say "building target/release/shihua"
cargo build --release -p server
say "ok"
