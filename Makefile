# flagd: `make run` installs and starts flagd on the embedded SQLite store;
# `make test` runs the checks and the whole suite (needs PostgreSQL and Redis on 127.0.0.1).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make run` is for trying flagd on this machine, so it listens on loopback only. flagd's
# own default, every interface (0.0.0.0), is what containers and servers need:
# `make run FLAGD_BIND_HOST=0.0.0.0` asks for it.
FLAGD_BIND_HOST ?= 127.0.0.1

.PHONY: install run test lint bench clean

# Two distributions from one tree: flagd-sdk (sdk/python: the core and the SDK) and flagd
# (the daemon and flagctl, which depends on it); editable, both import this checkout.
$(BIN)/.installed: pyproject.toml sdk/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./sdk/python -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: install
	FLAGD_BIND_HOST=$(FLAGD_BIND_HOST) $(BIN)/flagd

test: lint
	$(BIN)/pytest

# The pure core and the SDK are typed strictly: applications type-check against them.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict flagd/core flagd/sdk

bench: install
	$(BIN)/python -m bench.client_flags
	$(BIN)/python -m bench.admin_writes
	$(BIN)/python -m bench.startup

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache

# Shell completion scripts, generated from the Typer app (tests/cli fails when they are stale).
.PHONY: completions
completions: install
	$(BIN)/flagctl completion bash > completions/flagctl.bash
	$(BIN)/flagctl completion zsh > completions/flagctl.zsh
	$(BIN)/flagctl completion fish > completions/flagctl.fish
