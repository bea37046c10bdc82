# Two commands: `make demo` and `make test`. Both create .venv when needed.
# torch is installed first, pinned to the CPU build that lies on this machine's
# disk; every later requirement is satisfied by it, so pip never fetches a
# multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.trifront-installed
TORCH  := torch==2.13.0

DEMO_DB    ?= sqlite:///demo.db
DEMO_OUT   ?= demo-report
DEMO_TRIALS ?= 24

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/trifront run --dataset adult --model logreg --trials $(DEMO_TRIALS) \
		--storage $(DEMO_DB) --study demo --out $(DEMO_OUT)
	$(VENV)/bin/trifront report demo --storage $(DEMO_DB) --out $(DEMO_OUT)

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/mypy src

bench: install
	$(PY) bench/dpsgd.py

clean:
	rm -rf $(VENV) demo.db $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
