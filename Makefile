# Two commands do all the set-up (see README.md):
#   make sample   creates .venv, installs the pinned dependencies, refreshes vault_sample/
#   make test     the same set-up, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: sample test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

sample: $(STAMP)
	$(BIN)/rotation-notes refresh vault_sample

# The suite runs on every core (pytest-xdist); `python -m pytest` alone runs it in one process.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check rotation_notes tests
	$(BIN)/ruff format --check rotation_notes tests
	$(BIN)/mypy rotation_notes

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
