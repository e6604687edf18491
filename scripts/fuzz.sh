#!/usr/bin/env bash
# Fuzzes the upload → decode → preprocess path (fuzz/fuzz_targets/decode_preprocess.rs) with
# cargo-fuzz / libFuzzer and AddressSanitizer.
#   scripts/fuzz.sh            run for FUZZ_SECONDS (default 600), one process
#   FUZZ_SECONDS=60 scripts/fuzz.sh
# Installs cargo-fuzz (pinned) into .tools/ if missing. cargo-fuzz needs nightly-only rustc
# flags (-Zsanitizer, sancov): with no nightly toolchain, RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take them (stable ships the ASan runtime). FUZZ_SANITIZER=none runs without ASan.
# The corpus grows in fuzz/corpus/ (seeded from fuzz/seeds/ and a few demo photos, whole and
# truncated); crashes land in fuzz/artifacts/ with the command to reproduce them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARGO_FUZZ_VERSION=0.13.2
TARGET=decode_preprocess
SECONDS_TO_RUN=${FUZZ_SECONDS:-600}
SANITIZER=${FUZZ_SANITIZER:-address}

say() { printf '\033[1;34m[fuzz]\033[0m %s\n' "$*"; }

if [ "$("$ROOT/.tools/bin/cargo-fuzz" --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/"
  cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --root "$ROOT/.tools"
fi
export PATH="$ROOT/.tools/bin:$PATH"
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

# Seed corpus: the committed tiny pictures, three small demo photos of each format, and
# truncated copies of both (the decoders' error paths).
CORPUS=fuzz/corpus/$TARGET
mkdir -p "$CORPUS"
if [ -z "$(ls -A "$CORPUS")" ]; then
  say "seeding $CORPUS"
  cp fuzz/seeds/*.{jpg,png,webp} "$CORPUS/"
  for ext in jpg png webp; do
    ls -S demo/photos/*."$ext" | tail -3 | while read -r f; do cp "$f" "$CORPUS/"; done
  done
  for f in "$CORPUS"/*; do
    size=$(stat -c %s "$f")
    head -c $((size / 2)) "$f" >"$f.half"
    head -c $((size - 3)) "$f" >"$f.cut3"
  done
fi

say "building (sanitizer: $SANITIZER)"
(cd fuzz && cargo fuzz build -s "$SANITIZER" "$TARGET")
say "running $TARGET for $SECONDS_TO_RUN s"
cd fuzz
exec cargo fuzz run -s "$SANITIZER" "$TARGET" -- \
  -max_total_time="$SECONDS_TO_RUN" -max_len=1048576 -rss_limit_mb=4096 -timeout=30 \
  -print_final_stats=1
