# kvkgate — every developer and CI entry point. `make test` installs what is missing and runs
# everything: lint, types, template checks, tests.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.12: build the venvs from 3.12 where it exists (pyenv or system), else python3.
PYTHON312 := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12))
PYTHON ?= $(or $(PYTHON312),python3)
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
SAM_BIN := $(SAM_VENV)/bin
CHECKOV_VENV := .venv-checkov
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
# Tests must never reach real AWS: fake credentials unless the caller set real ones on purpose.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export PIP_DISABLE_PIP_VERSION_CHECK := 1


.PHONY: help install lint format typecheck template-lint build test unit run invoke publish browser sandbox bench-limiter bench-api bench-onboarding bench-names bench-abuse bench-gate bench-watch bench-search mutation clean deploy delete kvk-key

help:
	@echo "make run             the whole stack locally (no Docker, no AWS, no internet): API + demo page on localhost:3000"
	@echo "                     template parameters: make run PARAMETERS='PublicPaidRoutes=true'"
	@echo "make test            install what is missing, then lint, type-check, template checks and the test suite"
	@echo "make invoke FN=ApiFunction EVENT=events/api-validations-valid.json   like sam local invoke, without Docker"
	@echo "make publish EVENT=events/eventbridge-customer-signed-up.json   put an event on make run's bus (events/README.md)"
	@echo "make deploy          build and deploy to AWS with your credentials (first run guided); PARAMETERS='Key=Value ...'"
	@echo "                     adds to samconfig.toml's parameters; CONFIG_ENV=production for samconfig's production stack"
	@echo "make kvk-key         put your KVK API key in the deployed stack's secret (asked without echo)"
	@echo "make delete          delete the deployed stack (the table is kept: docs/deploy.md)"
	@echo "make lint|typecheck|template-lint|build|unit   one part of that (build: sam build with Python 3.12)"
	@echo "make sandbox         the offline KVK test environment on 127.0.0.1:$${KVK_SANDBOX_PORT:-8089} (Ctrl-C stops it)"
	@echo "make bench-limiter   benchmark: 20 environments against a KVK that enforces the configured rate (10/s), with and without the global limiter; overload"
	@echo "make bench-api       benchmark: cold import on the built artifact, warm latency, paid KVK calls per validation"
	@echo "make bench-onboarding benchmark: 5,000 sign-ups through the worker with KVK at 100/s and 10% errors"
	@echo "make bench-names     benchmark: the name check on 995 labelled pairs of real Dutch company names"
	@echo "make bench-abuse     benchmark: a day of anonymous attack (1,000 IPv4, 100,000 IPv6 in one /64) beside 1,000 sign-ups"
	@echo "make bench-gate      benchmark: the sign-up gate under made-up names, an API flood and an AWS outage, beside the behaviour before"
	@echo "make bench-watch     benchmark: a simulated month of 10,000 watched customers, changes, faults and crashes"
	@echo "make bench-search    benchmark: 400 real company names typed letter by letter: keys until the company shows, KVK calls"
	@echo "make mutation        mutation testing (mutmut) of the modules that carry the promises; BENCH_ARGS='--modules aws/cache.py'"
	@echo "make format          apply ruff's formatting and safe fixes"
	@echo "make clean           remove venvs and build output"

$(VENV)/.installed: requirements-dev.txt layers/kvkgate/requirements.txt layers/kvkgate/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -r layers/kvkgate/requirements.txt -e layers/kvkgate
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@test -x $(SAM_BIN)/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install -q --upgrade pip
	$(SAM_BIN)/python -m pip install -q -r requirements-sam.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements-checkov.txt
	@touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -ll -c pyproject.toml -r layers/kvkgate/kvkgate functions local
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# Debian's Chromium for the browser test (Playwright drives it; nothing is downloaded from elsewhere).
browser:
	@if command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && echo "installed chromium"; \
	else echo "chromium missing and cannot be installed here: the browser test will be skipped"; fi

# SAM's own lint, cfn-lint on the translated CloudFormation, and checkov's security checks (every
# check passes or is skipped in the template with its reason; docs/security.md lists them).
template-lint: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(SAM_BIN)/sam validate --lint --template template.yaml
	$(SAM_BIN)/python local/lint_template.py template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

# The deployable artifact, as `sam build` makes it: arm64 wheels and .pyc in the layer, compiled functions.
build: $(SAM_VENV)/.installed $(VENV)/.installed
	@test -n "$(PYTHON312)" || { echo "make build needs python3.12 (pyenv or system): Lambda runs 3.12"; exit 1; }
	PATH="$(dir $(PYTHON312)):$$PATH" $(SAM_BIN)/sam build --template template.yaml
	@$(BIN)/python -m local.artifact

# Two test processes (the machine has 2 cores; the servers the tests start wait on I/O mostly).
PYTEST_WORKERS ?= 2
unit: $(VENV)/.installed
	@mkdir -p test-artifacts
	KVKGATE_REQUIRE_BUILD=$(REQUIRE_BUILD) $(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15 $(PYTEST_ARGS)

test: REQUIRE_BUILD := 1
test: install lint typecheck template-lint build unit

run: $(VENV)/.installed
	$(BIN)/python -m local.stack $(if $(PARAMETERS),--parameter-overrides $(PARAMETERS))

invoke: $(VENV)/.installed
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<LogicalId> EVENT=events/<file>.json"; exit 2; }
	@$(BIN)/python -m local.invoke $(FN) $(EVENT)

publish: $(VENV)/.installed
	@test -n "$(EVENT)" || { echo "usage: make publish EVENT=events/eventbridge-customer-signed-up.json (while make run runs)"; exit 2; }
	@$(BIN)/python -m local.publish $(EVENT)

sandbox: $(VENV)/.installed
	$(BIN)/python -m local.sandbox $(SANDBOX_ARGS)

bench-limiter: $(VENV)/.installed
	$(BIN)/python -m bench.limiter $(BENCH_ARGS)

bench-api: $(VENV)/.installed
	$(BIN)/python -m bench.api $(BENCH_ARGS)

bench-onboarding: $(VENV)/.installed
	$(BIN)/python -m bench.onboarding $(BENCH_ARGS)

bench-names: $(VENV)/.installed
	$(BIN)/python -m bench.names $(BENCH_ARGS)

bench-abuse: $(VENV)/.installed
	$(BIN)/python -m bench.abuse $(BENCH_ARGS)

bench-gate: $(VENV)/.installed
	$(BIN)/python -m bench.gate $(BENCH_ARGS)

bench-watch: $(VENV)/.installed
	$(BIN)/python -m bench.watch $(BENCH_ARGS)
# Issue #21: real company names typed letter by letter; keystrokes until the company shows, KVK calls per session.
bench-search: $(VENV)/.installed
	$(BIN)/python -m bench.search $(BENCH_ARGS)

# Not in make test or CI (about 30 minutes for all modules on 2 cores); survivors in test-artifacts/mutation-survivors.txt.
mutation: $(VENV)/.installed
	$(BIN)/python -m bench.mutation $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .ruff_cache

# -- AWS (docs/deploy.md) --------------------------------------------------------------------------
# The caller's own AWS credentials and region: never the fake test ones exported at the top.
OWN_AWS := env $(if $(filter file,$(origin AWS_ACCESS_KEY_ID)),-u AWS_ACCESS_KEY_ID) \
	$(if $(filter file,$(origin AWS_SECRET_ACCESS_KEY)),-u AWS_SECRET_ACCESS_KEY) \
	$(if $(filter file,$(origin AWS_DEFAULT_REGION)),-u AWS_DEFAULT_REGION)
CONFIG_ENV ?= default
DEPLOY := $(OWN_AWS) CONFIG_ENV=$(CONFIG_ENV)

# Credentials are checked first (one sentence without them, nothing built); then sam build and sam deploy.
deploy: $(VENV)/.installed
	@$(DEPLOY) $(BIN)/python -m local.deploy check --target deploy
	@$(MAKE) --no-print-directory build
	@$(DEPLOY) $(SAM_BIN)/python -m local.deploy deploy --parameters "$(PARAMETERS)"

kvk-key: $(VENV)/.installed
	@$(DEPLOY) $(BIN)/python -m local.deploy check --target kvk-key
	@$(MAKE) --no-print-directory $(SAM_VENV)/.installed
	@$(DEPLOY) $(SAM_BIN)/python -m local.deploy kvk-key

delete: $(VENV)/.installed
	@$(DEPLOY) $(BIN)/python -m local.deploy check --target delete
	@$(MAKE) --no-print-directory $(SAM_VENV)/.installed
	@$(DEPLOY) $(SAM_BIN)/python -m local.deploy delete
