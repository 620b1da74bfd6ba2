# Newcomer path: `make demo` (main job end to end) and `make test` (everything, services included).
PY      ?= python3
# rustup installs cargo under ~/.cargo/bin, which a non-login shell may not have on its PATH
export PATH := $(HOME)/.cargo/bin:$(PATH)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
CORPORA ?= ../shared/corpora
OUT     ?= out

.PHONY: install demo demo-offline test test-unit up down bench eval clean

NATIVE  := detector/native
NATIVE_SRC := $(NATIVE)/Cargo.toml $(NATIVE)/Cargo.lock $(NATIVE)/pyproject.toml $(wildcard $(NATIVE)/src/*.rs)

# The compiled per-record kernel (Rust, PyO3) is built by maturin; without cargo on the machine,
# maturin installs a Rust toolchain from the registries into a temporary directory first.
install: $(STAMP)
$(STAMP): pyproject.toml $(NATIVE_SRC)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q ./$(NATIVE)
	$(BIN)/python -c 'import detector.text as t; assert t.KERNEL is not None, "compiled text kernel not importable"'
	touch $(STAMP)

# The main job, live: local Kafka + Redis, a worker, simulated traffic through gateway-logs, alerts as they arrive.
demo: install
	bash deploy/local/demo.sh

# Embedded path, no services: simulate a day of mixed traffic, replay it (with the account profiles the
# simulator wrote, as eval does), print alerts, write the report, evaluate.
demo-offline: install
	$(BIN)/detector simulate --out $(OUT)/demo --seed 1 --scenario all --hours 24 --corpora $(CORPORA)
	$(BIN)/detector replay $(OUT)/demo/events.jsonl.gz --allowlist $(OUT)/demo/allowlist.json \
		--accounts $(OUT)/demo/accounts.jsonl --alerts-out $(OUT)/demo/alerts.jsonl --report $(OUT)/demo/report
	$(BIN)/detector eval $(OUT)/demo

bench: install
	$(BIN)/detector bench replay

# Robustness matrix: TUNING (classic+tuning wording, seeds 1,2) | HELD-OUT (heldout wording, seeds 11,12)
# | shared/eval independent traffic, over variants; 2 processes, simulations cached in $(OUT)/matrix.
eval: install
	$(BIN)/detector eval --matrix --corpora $(CORPORA) --cache $(OUT)/matrix

# The compiled kernel's own Rust unit tests (debug build, ~15 s). Without cargo on the PATH (maturin
# then built the kernel with a toolchain of its own) they cannot run, and this says so.
RUST_TESTS := if command -v cargo >/dev/null; then cargo test -q --lib --manifest-path $(NATIVE)/Cargo.toml; \
	else echo "WARNING: cargo not on PATH: the Rust unit tests of $(NATIVE) did not run" >&2; fi

# Unit tests only (no services).
test-unit: install
	$(RUST_TESTS)
	$(BIN)/pytest -q tests/unit

# Everything: starts local Kafka (KRaft) and Redis, runs every test, stops what it started.
test: install
	$(RUST_TESTS)
	bash deploy/local/with-services.sh $(BIN)/pytest -q -rs tests

up: install
	bash deploy/local/up.sh

down:
	bash deploy/local/down.sh

clean:
	rm -rf $(OUT) .pytest_cache .hypothesis $(NATIVE)/target
