# Journeys task runner. `make` or `make help` lists the targets.
# The README's two commands are `make up` and `make test`; CI runs `make test` verbatim.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install constraints tools browser up test test-fast lint typecheck check schemas bench bench-quick kafka-start kafka-stop kafka-status clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,bench,local]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install Journeys with its dev and bench tools

constraints: $(STAMP) ## rewrite constraints.txt from the installed versions
	@{ echo "# Versions every install uses (make install, the worker image): pip install -c constraints.txt."; \
	   echo "# Regenerate after changing dependencies: make constraints (from a fresh make install)."; \
	   $(BIN)/pip freeze --exclude-editable | grep -v '^journeys=='; } > constraints.txt

# $(call apt_install,COMMAND:PACKAGE ...): apt-get install each PACKAGE whose COMMAND is missing.
define apt_install
missing=""; \
for pair in $(1); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
if [ -n "$$missing" ]; then \
  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
    echo "installing:$$missing"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
  else \
    echo "please install:$$missing"; exit 1; \
  fi; \
fi
endef

tools: ## install Java 17+, Maven and docker-compose from apt where missing
	@$(call apt_install,java:openjdk-17-jre-headless mvn:maven docker-compose:docker-compose)

browser: ## install Debian's chromium and chromedriver where missing (the journey map's browser test)
	@$(call apt_install,chromium:chromium chromedriver:chromium-driver)

up: install tools ## the pipeline with demo traffic on the local stack (real Kafka + embedded ClickHouse)
	$(BIN)/journeys up --demo

lint: install ## ruff: style and common bugs
	$(BIN)/ruff check pipeline schemas tests
	$(BIN)/ruff format --check pipeline schemas tests

typecheck: install ## mypy --strict
	$(BIN)/mypy

check: lint typecheck ## lint and typecheck

# Test processes: most tests wait on a broker or a worker, so two share two cores well.
TEST_PROCESSES ?= 2

test: install tools browser check ## everything: lint, types, unit, agent, integration and end-to-end tests
	$(BIN)/pytest -v -n $(TEST_PROCESSES) --dist worksteal

test-fast: install ## unit tests only
	$(BIN)/pytest -m unit -q

bench: install tools ## benchmark: throughput, latency, memory, scaling beside baselines (docs/performance.md)
	$(BIN)/journeys bench $(BENCH_ARGS)

bench-quick: install tools ## the same in a minute or two, small numbers (what the smoke test runs)
	$(BIN)/journeys bench --quick $(BENCH_ARGS)

schemas: install ## regenerate schemas/json/ from the contracts
	$(BIN)/python -m schemas.export

kafka-start: install tools ## a local broker in the background (see `journeys kafka status`)
	$(BIN)/journeys kafka start

kafka-stop: install ## stop it
	$(BIN)/journeys kafka stop

kafka-status: install ## where it runs and keeps its data
	$(BIN)/journeys kafka status

clean: ## remove local data (var/) and caches, keep .venv and the Kafka jars
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
