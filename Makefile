# Everyday verbs. The first use of any target creates .venv and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install up down status demo test lint format bench clean debian-test debian-bench

# Debian packages beyond the stack's (which `flashsale stack up` installs itself).
# $(1) the command that shows it is there (or $(3), a shell check, when it has none), $(2) the package.
define apt_ensure
	@$(if $(3),$(3),command -v $(1)) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(2) (Debian)"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null; \
	  else echo "$(1) is missing: apt-get install $(2)"; fi; }
endef

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

debian-test:
	$(call apt_ensure,chromium,chromium)
	$(call apt_ensure,a CJK font,fonts-noto-cjk,fc-list :lang=zh | grep -q .)

debian-bench:
	$(call apt_ensure,wrk,wrk)
	$(call apt_ensure,redis-benchmark,redis-tools)

test: install debian-test
	$(BIN)/flashsale stack up
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install debian-bench
	$(BIN)/flashsale stack up
	$(BIN)/flashsale bench

clean:
	rm -rf $(VENV) build *.egg-info
