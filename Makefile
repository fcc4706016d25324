# Multilevel Models in Python: two commands do all the set-up on a fresh machine.
#   make book   create .venv, install the locked environment, execute every chapter, build _build/html
#   make test   the same, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
# Strict: any warning, broken reference or failing cell fails the build. --all re-reads
# every page (outputs still come from the execution cache): Sphinx's incremental reads
# can leave citation and cross-reference anchors of unchanged pages stale.
JB_FLAGS := -W -n --keep-going --all
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
	$(BIN)/python scripts/cache_guard.py _build
	$(BIN)/python scripts/execute_chapters.py _build
	$(BIN)/jupyter-book build . $(JB_FLAGS)

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

# List every external link of the built book and check each one (needs internet;
# not part of the tests, which run offline). Prints the broken links and their pages.
.PHONY: external-links
external-links: book
	$(BIN)/python scripts/external_links.py --check _build/html

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
	_build/lock-venv/bin/python -m pip install --quiet ".[book,dev]"
	( echo "# Exact versions for the book's environment; regenerate with 'make lock'."; \
	  _build/lock-venv/bin/python -m pip freeze --all --exclude-editable \
	    | grep -v -e '^pip==' -e '^multilevel-models-in-python' ) > requirements.lock
	rm -rf _build/lock-venv

clean:
	rm -rf _build
