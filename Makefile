# Everyday verbs. The first use of any target creates .venv and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install up down status demo test test-fast lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/flashsale stack up

down: install
	$(BIN)/flashsale stack down

status: install
	$(BIN)/flashsale stack status

demo: install
	$(BIN)/flashsale demo

test: install
	$(BIN)/flashsale stack up
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/flashsale bench

clean:
	rm -rf $(VENV) build *.egg-info
