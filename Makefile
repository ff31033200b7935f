# make report  render the book into _book/ (installs everything, Quarto included, in .venv)
# make test    run the test suite
# make lint    ruff on the package and the tests
# make train   train every experiment and seed (0, 1, 2) whose stored result is missing, stale or corrupt
# make clean   remove Quarto's output and cache (never results-next/ nor the committed _freeze/)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

# The offline copies of the datasets (see README.md): $LAB_DATA_DIR if set,
# else ../shared/datasets beside the repository when it exists.
LAB_DATA_DIR ?= $(abspath $(wildcard ../shared/datasets))
DATA_ENV := $(if $(strip $(LAB_DATA_DIR)),LAB_DATA_DIR="$(LAB_DATA_DIR)")

.PHONY: report test lint train clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -r requirements.txt -e .
	@touch $@

$(VENV)/.installed-report: requirements-report.txt $(VENV)/.installed
	@if $(PIP) install --quiet -r requirements-report.txt; then touch $@; \
	else echo "make report: pip could not install requirements-report.txt (quarto-cli; see the error above)." >&2; fi

test: $(VENV)/.installed
	$(DATA_ENV) LAB_ALLOW_TRAINING=0 $(BIN)/pytest -n auto --dist loadfile --durations=10

report: $(VENV)/.installed-report
	@if [ -x $(BIN)/quarto ]; then quarto=$(BIN)/quarto; \
	elif command -v quarto >/dev/null; then quarto=$$(command -v quarto); \
	else \
		echo "Quarto is missing: the book cannot be rendered without it." >&2; \
		echo "Install it with '$(PIP) install quarto-cli' (what 'make report' tried)," >&2; \
		echo "or from https://quarto.org/docs/get-started/, then run 'make report' again." >&2; \
		exit 1; \
	fi; \
	echo "$$quarto render"; \
	$(DATA_ENV) QUARTO_PYTHON="$(abspath $(BIN)/python)" "$$quarto" render

lint: $(VENV)/.installed
	$(BIN)/ruff check lab tests

train: $(VENV)/.installed
	$(DATA_ENV) $(BIN)/lab train --all --missing

clean:
	rm -rf _book .quarto
