# The whole set-up on a fresh machine: `make demo` and `make test`.
# demo: a 4k-tweet world and 3 epochs, so that it serves within minutes (`make eval` keeps its own sizes).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_TWEETS ?= 4000
DEMO_EPOCHS ?= 3
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install lint docs test test-fast demo eval eval-real bench loadtest redis-server clean help

help:
	@echo "make demo      venv + install, synthesise a world, train, build heads, serve on :$(PORT)"
	@echo "make test      lint + type check + the whole test suite (slow tests included)"
	@echo "make test-fast the suite without the slow end-to-end tests"
	@echo "make eval      evaluation report for the default synthetic world (docs/)"
	@echo "make eval-real the same pipeline on real corpora (REAL_DATA), paper vs real preset vs baselines"
	@echo "make bench     benchmarks -> docs/BENCHMARKS.md"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make docs      the settings and error tables of docs/SERVICE.md, from the code"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -c constraints.txt -e '.[dev,train,ray]'
	touch $(STAMP)

install: $(STAMP)

# Debian's redis-server for the tests of the Redis paths; tests start their own private instance.
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version

LINTED := app model training tests bench scripts

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/python scripts/gen_docs_tables.py --check

# The settings and error tables of docs/SERVICE.md, generated from app/settings.py and app/api/errors.py.
docs: install
	$(BIN)/python scripts/gen_docs_tables.py

test: install redis-server lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install redis-server
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

demo: install
	$(BIN)/tweetembed demo --dir $(DEMO_DIR) --tweets $(DEMO_TWEETS) --epochs $(DEMO_EPOCHS) --port $(PORT)

# The evaluation report of the default synthetic world (20k tweets, seed 0, small preset) into docs/evaluation/.
eval: install
	$(BIN)/python -m training.evaluation.run_default --dir work/eval_default --out docs/evaluation

# Real corpora end to end (prepare, train, build-heads, evaluate) for the paper and the real-data preset
# (small until it exists) and the baselines, side by side -> docs/evaluation/real/. Any corpus works:
# REAL_DATA="a/ b.jsonl". REAL_ARGS: step budgets and presets (python -m training.evaluation.run_real --help);
# the paper preset's steps take about a minute each on a shared 2-core CPU, hence its own small budget.
REAL_DATA ?= ../shared/data/sicss-arkansas ../shared/data/mediaeval2016-dev
REAL_ARGS ?= --max-iterations 60 --iterations paper=6 --iterations real=full
eval-real: install
	$(BIN)/python -m training.evaluation.run_real $(REAL_DATA) --out docs/evaluation/real --dir work/eval_real $(REAL_ARGS)

# Benchmarks -> docs/BENCHMARKS.md (bench/); what they need is built under work/bench/ when missing.
# BENCH_ARGS=--quick for a smoke run; see `python -m bench.serving --help` for durations.
# BENCH_BASELINE: the commit whose service is measured beside this checkout's (before/after rows);
# ef325c0 is main before issue 14's redesign of the inference core. Empty: no before/after rows.
BENCH_ARGS ?=
BENCH_BASELINE ?= ef325c0
bench: install
	$(BIN)/python -m bench.serving $(if $(BENCH_BASELINE),--baseline $(BENCH_BASELINE)) $(BENCH_ARGS)

# Load and fault scenarios (80% / 3x capacity, Redis outage, SIGTERM), PASS/FAIL each -> docs/BENCHMARKS.md.
LOADTEST_ARGS ?=
loadtest: install redis-server
	$(BIN)/python -m bench.loadtest $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
