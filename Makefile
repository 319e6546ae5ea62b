# Two commands are the contract (README): `make run` and `make test`.
# Both create the virtual environment if it is missing and install the pinned requirements once;
# a second call reinstalls nothing. Override the venv location with VENV=... (CI keeps it outside
# the clone, keyed by the hash of the requirements files: see .ci/run).
PYTHON ?= python3.11
VENV ?= .venv
PRESET ?=
PYTEST_ARGS ?=

REQ_HASH := $(shell cat requirements.txt requirements-nodeps.txt | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.torch_extensions
SNAKE_PRESET := $(if $(PRESET),--configfile workflow/presets/$(PRESET).yaml,)

.PHONY: venv run test env-file clean-venv

venv: $(STAMP)
	@# the project itself is an editable install; re-point it when the venv is shared between clones
	@(cd / && $(abspath $(PY)) -c "import gasp, pathlib, sys; sys.exit(pathlib.Path(gasp.__file__).resolve().parents[1] != pathlib.Path('$(CURDIR)').resolve())" 2>/dev/null) \
	  || $(PY) -m pip install -q --no-deps --no-build-isolation -e .

$(STAMP): requirements.txt requirements-nodeps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -r requirements-nodeps.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

run: venv
	snakemake reports/main_table.csv --cores all $(SNAKE_PRESET)

test: venv
	pytest $(PYTEST_ARGS)

env-file: venv
	$(PY) -m gasp.envfile --write

clean-venv:
	rm -rf $(VENV)
