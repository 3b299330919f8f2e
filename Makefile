# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STATIC := src/hounsfield/web/static/index.html

.PHONY: run test setup web bench clean docs

run: setup web
	$(BIN)/hounsfield demo

test: setup web
	$(BIN)/pytest -q -n 2 --dist loadfile

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Hounsfield needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The browser front end (web/) is built into the Python package when npm is present.
web: $(STATIC)

$(STATIC): $(shell find web -type f -not -path 'web/node_modules/*' 2>/dev/null)
	@if [ -f web/package.json ]; then \
		if command -v npm >/dev/null; then \
			cd web && npm ci --no-audit --no-fund && npm run build; \
		else echo "npm not found: the web pages are not built"; fi; \
	fi

docs: setup
	$(BIN)/hounsfield config docs > docs/configuration.md

bench: setup
	$(BIN)/python bench/import_bench.py

clean:
	rm -rf $(VENV) src/hounsfield/web/static web/node_modules
