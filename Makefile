# Multilevel Models in Python: two commands do all the set-up on a fresh machine.
#   make book   create .venv, install the locked environment, execute every chapter, build _build/html
#   make test   the same, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
# Strict: any warning, broken reference or failing cell fails the build. The build is
# incremental: Sphinx re-reads only changed pages, and scripts/incremental_refs.py has it
# re-write the pages whose citations or cross-references those changes affect.
JB_FLAGS := -W -n --keep-going
# The chapters are executed (two at a time) before the build only when a page, the table of
# contents or the cache guard's inputs changed since the last time, or the cache is gone.
EXECUTED := _build/.chapters-executed
# A failed build forgets Sphinx's environment: the next build then re-reads every page and
# reports every warning again (an incremental build reports those of changed pages only,
# and would pass after a failure with nothing changed).
SPHINX_ENV := _build/.doctrees/environment.pickle
# Single-threaded BLAS keeps timings steady and lets chapters run side by side.
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: all book test env chapter bench fixtures data lock clean suitesparse
# scikit-sparse (CHOLMOD, for crossed and nested random effects) has no wheel on PyPI and
# is built against Debian's SuiteSparse headers, which `make env` installs when missing.
CHOLMOD_H := /usr/include/suitesparse/cholmod.h

all: book

env: $(STAMP)

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.11")'
	@test -f $(CHOLMOD_H) || $(MAKE) --no-print-directory suitesparse
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

book: $(STAMP)
	@$(BIN)/python scripts/cache_guard.py _build
	@$(MAKE) --no-print-directory $(EXECUTED)
	$(BIN)/jupyter-book build . $(JB_FLAGS) || { rm -f $(SPHINX_ENV); exit 1; }

# Evaluated after cache_guard.py has rewritten _build/.inputs-fingerprint (if inputs changed).
$(EXECUTED): _toc.yml $(wildcard chapters/*.md) _build/.inputs-fingerprint \
             $(if $(wildcard _build/.jupyter_cache/global.db),,FORCE)
	$(BIN)/python scripts/execute_chapters.py _build
	@touch $@

.PHONY: FORCE
FORCE:

test: book
	$(BIN)/python -m pytest -n 2

suitesparse:
	@echo "Installing Debian's libsuitesparse-dev (CHOLMOD headers for scikit-sparse)"
	@sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq libsuitesparse-dev

# Execute one chapter on its own, e.g. `make chapter CH=structures`; the executed
# notebook lands in _build/chapters/ (open it in Jupyter to look around).
chapter: $(STAMP)
	@test -n "$(CH)" || (echo "usage: make chapter CH=<name of a file in chapters/, without .md>"; exit 2)
	mkdir -p _build/chapters
	$(BIN)/jupytext --to ipynb --output _build/chapters/$(CH).ipynb chapters/$(CH).md
	$(BIN)/jupyter-execute --inplace --timeout=600 _build/chapters/$(CH).ipynb

bench: $(STAMP)
	@for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

# Check every external link of the book with Sphinx's linkcheck builder (needs internet;
# not part of the tests, which run offline). Broken links and their pages are printed and
# written to _build/linkcheck/output.txt; the target fails if any link is broken. (As a
# "custom" builder: jupyter-book's `--builder linkcheck` would write its report into _build/html.)
.PHONY: external-links
external-links: book
	$(BIN)/jupyter-book build . --builder custom --custom-builder linkcheck

# Regenerate the lme4 reference fixtures (needs R with lme4: apt-get install r-base-core r-cran-lme4).
fixtures: $(STAMP)
	$(BIN)/python tests/reference/export_data.py
	@for script in tests/reference/*.R; do \
	  case $$script in */common.R) continue;; esac; \
	  echo "Rscript $$script"; Rscript $$script || exit 1; done

# Rewrite the simulated CSV files in data/ from the package's simulators.
data: $(STAMP)
	$(BIN)/python scripts/write_data.py

# Re-resolve the locked environment from pyproject.toml (needs network access to PyPI).
lock:
	rm -rf _build/lock-venv
	$(PYTHON) -m venv _build/lock-venv
	_build/lock-venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	_build/lock-venv/bin/python -m pip install --quiet ".[book,dev,bench]"
	( echo "# Exact versions for the book's environment; regenerate with 'make lock'."; \
	  _build/lock-venv/bin/python -m pip freeze --all --exclude-editable \
	    | grep -v -e '^pip==' -e '^multilevel-models-in-python' ) > requirements.lock
	rm -rf _build/lock-venv

clean:
	rm -rf _build
