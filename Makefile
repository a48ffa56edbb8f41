# `make run`  — runs the export locally: moto (AWS) + fake accounting systems + the Lambda handlers.
# `make test` — runs the test suite.
# Both create the virtualenv on first use and reinstall only when a requirements file changes.

SHELL := /bin/bash
# The Lambda runtime is Python 3.13; these machines provide it through pyenv.
PYTHON ?= $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv clean schemas docs bench reliability money money-sample

venv: $(STAMP)

$(STAMP): requirements-dev.txt layers/common/requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.13 not found (try: pyenv install 3.13.0)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# The operator CLI (`invoice-export`), editable: its dependencies came with requirements-dev.txt.
	$(VPY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(VPY) -m local.run

# Four workers on two cores: the stack tests mostly wait (visibility timeouts, rate-limit windows,
# the providers' latency), so the load stays near 2 (measured: 6.2 min with 4, 11.4 min with 2).
test: $(STAMP)
	$(VPY) -m pytest -n 4 --dist loadfile

# The reliability figures (README, "Reliability"): e.g. `make reliability ARGS="--documents 200 --seed 7"`.
reliability: $(STAMP)
	$(VPY) -m reliability.figures $(ARGS)

# What export costs (README: Performance): one table, under 10 minutes; not part of the tests.
# ARGS=--quick proves the scripts work in a minute; ARGS="--only bulk" runs one benchmark.
bench: $(STAMP)
	$(VPY) -m benchmarks.run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

money: $(STAMP)
	$(VPY) -m corpus.money

# The corpus test's stored sample (tests/corpus/test_money_corpus.py says why stored); refuses to write
# a sample that lacks a case the test relies on.
money-sample: $(STAMP)
	$(VPY) -m corpus.money --write-sample tests/corpus/money_sample.json --documents 40 --seed 22

schemas: $(STAMP)
	$(VPY) tools/generate_schemas.py
	$(VPY) tools/generate_openapi.py

docs: $(STAMP)
	$(VPY) -m tools.provider_table
	$(VPY) -m tools.state_table

clean:
	rm -rf $(VENV) .aws-sam
