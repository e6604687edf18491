# shihua: the two commands people need are `make run` and `make test` (see README.md).
SHELL := /bin/bash
MODEL ?=
PORT ?= 3000

.PHONY: run test test-full test-standalone setup setup-e2e site site-release unit e2e fmt lint clean-data \
	fuzz bench bench-setup bench-index bench-query bench-load bench-scale

## make run: install what is missing, build, index the demo photos, serve on http://127.0.0.1:$(PORT)
run: setup site-release
	MODEL="$(MODEL)" PORT="$(PORT)" scripts/run.sh

## make test: every test (unit, integration against a real Milvus Lite, Playwright e2e)
test: setup-e2e
	scripts/test.sh

## make test-full: `make test`, then the checks that need files outside the repository (the
## 750 MB models/ViT-B-16-random export, ../shared/datasets/photos); they fail if those are absent
test-full: test
	cargo test -p server --test fidelity_random --test preprocess_fidelity -- --ignored

## make test-standalone: the store and ingest integration tests against a real Milvus standalone 2.3.5
test-standalone: setup
	scripts/test-standalone.sh

## make fuzz: fuzz the upload → decode → preprocess path for 10 minutes (FUZZ_SECONDS=N to change)
fuzz:
	scripts/fuzz.sh

## make bench: speed benchmarks (indexing vs the reference loop and the ORT ceiling, query
## latency, memory) and the 50-client mixed load; tables go to bench/results/ (see bench/README.md).
## BENCH_ARGS passes options, e.g. make bench BENCH_ARGS="--levers" or "--device cuda".
BENCH_ARGS ?=
bench: bench-setup
	.venv-bench/bin/python bench/run.py index query load $(BENCH_ARGS)
	$(MAKE) bench-scale

## make bench-scale: index choice at 10k / 100k rows (SCALE_ARGS="--rows 10000,100000,1000000"
## for 1M) against a real Milvus standalone 2.3.5: build time, recall@10, latency, memory
## (bench/scale.py; tables in bench/results/, the guide in docs/scale.md).
SCALE_ARGS ?=
bench-scale: setup
	cargo build --release -p server
	.venv/bin/python bench/scale.py $(SCALE_ARGS)

bench-setup:
	bench/setup.sh $(if $(findstring cuda,$(BENCH_ARGS)),--cuda,)

bench-index: bench-setup
	.venv-bench/bin/python bench/run.py index $(BENCH_ARGS)

bench-query: bench-setup
	.venv-bench/bin/python bench/run.py query $(BENCH_ARGS)

bench-load: bench-setup
	.venv-bench/bin/python bench/run.py load $(BENCH_ARGS)

setup:
	scripts/setup.sh

setup-e2e:
	scripts/setup.sh --e2e

site:
	scripts/build-site.sh

site-release:
	scripts/build-site.sh --release

unit:
	cargo test -p app --features ssr
	cargo test -p server

e2e:
	scripts/build-site.sh --release-client
	scripts/e2e.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy -p server --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

clean-data:
	rm -rf data
