# dolbom — the integrated care desk. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

.PHONY: help run test soak check lint typecheck messages browser demo bench bench-full clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP) ## create .venv, install, migrate and start `dolbom serve` (SQLite by default)
	$(BIN)/dolbom migrate
	$(BIN)/dolbom serve

test: $(STAMP) browser ## install what the tests need and run the whole suite
	$(BIN)/python -m pytest

# The soak's PostgreSQL database (wiped by the tests); override: make soak SOAK_PG_URL=...
SOAK_PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

soak: $(STAMP) browser ## long runs: API fuzzing with many more cases, the crash test at full size (200 people, 5 kills) on SQLite and PostgreSQL, recovery bench
	CRASH_PEOPLE=200 CRASH_KILLS=5 $(BIN)/python -m pytest tests/e2e/test_crash.py -s
	CRASH_PEOPLE=200 CRASH_KILLS=5 DOLBOM_TEST_DATABASE_URL="$(SOAK_PG_URL)" $(BIN)/python -m pytest tests/e2e/test_crash.py -s
	-$(BIN)/python bench/recovery.py
	-$(BIN)/python bench/recovery.py --db-url "$(SOAK_PG_URL)" --wipe
	DOLBOM_TEST_FUZZ_PROFILE=soak $(BIN)/python -m pytest tests/console/test_api_fuzz.py -s

check: $(STAMP) lint typecheck test ## ruff, mypy and the tests

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy dolbom care storage bot console jobs

browser: ## Debian's chromium and Korean fonts for the browser tests (never `playwright install`)
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; fi; \
	fi

messages: $(STAMP) ## extract msgids and merge them into locales/ko and locales/en
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k _ -k N_ -k ngettext:1,2 \
		--no-location --sort-output --ignore-dirs=".venv tests build" -o locales/messages.pot --project dolbom .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete

# The benchmarks' PostgreSQL database (EMPTIED and loaded with Seoul-scale data); see docs/benchmarks.md.
BENCH_PG_URL ?= $(or $(DOLBOM_BENCH_DATABASE_URL),postgresql+asyncpg://postgres@127.0.0.1:5432/test)

bench: $(STAMP) ## benchmarks, quick size (under 10 minutes; needs PostgreSQL): one `bench <name>: … PASS|FAIL` line each
	$(BIN)/python bench/run.py --size quick --db-url "$(BENCH_PG_URL)"

bench-full: $(STAMP) ## benchmarks at Seoul scale (1,000,000 orders)
	$(BIN)/python bench/run.py --size full --db-url "$(BENCH_PG_URL)"

demo: $(STAMP) ## load the demo district into the default database
	$(BIN)/dolbom migrate
	$(BIN)/dolbom demo

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
