# The two commands of the README:
#   make demo   set everything up and run the demo
#   make test   set everything up and run the whole test suite (what CI runs)
# Both are safe to run again: set-up steps are skipped when nothing changed.

SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test setup lint build clean binder-badge

demo: setup build
	$(VENV)/bin/sse-widgets demo

test: setup lint build
	cd js && npm test
	$(PYTHON) -m pytest $(PYTEST_ARGS)
	$(PYTHON) -m pytest --nbval-lax -p no:cacheprovider notebooks/

# The browser modules, rebuilt from js/src (esbuild: well under a second) so that tests and
# the demo never run stale ones after a change to the sources.
build: setup
	cd js && npm run build --silent

lint: setup
	$(VENV)/bin/ruff check sse_widgets tests benchmarks scripts
	$(VENV)/bin/mypy
	$(PYTHON) scripts/binder_badge.py --check

# Point the README's Binder badge at [project.urls] Repository (pyproject.toml), else at the
# git remote origin.
binder-badge: setup
	$(PYTHON) scripts/binder_badge.py --write

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh js/package.json js/package-lock.json
	bash scripts/setup.sh
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info sse_widgets/static js/node_modules
