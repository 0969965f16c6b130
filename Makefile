# Two commands on a fresh machine (Python 3.11 and Go): `make demo` and `make test`.
SHELL := /bin/bash
export DAGSTER_DISABLE_TELEMETRY := 1
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup ferretdb test typecheck demo ui lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ferretdb

# With MONGODB_URI set the suite runs against that server, so FerretDB (and Go, to build it) is not needed.
TEST_SERVER := $(if $(strip $(MONGODB_URI)),,ferretdb)

ferretdb:
	bash tools/build_ferretdb.sh

test: $(STAMP) $(TEST_SERVER)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -p no:cacheprovider

demo: setup
	# The runs are recorded in demo_home (Dagster's SQLite instance), where `make ui` shows them.
	mkdir -p demo_home && cp dagster.yaml demo_home/dagster.yaml
	DAGSTER_HOME=$$PWD/demo_home $(PY) -m devtools.demo run

ui: setup
	mkdir -p demo_home .cache && cp dagster.yaml demo_home/dagster.yaml && rm -f .cache/demo-ui-ready
	# The demo seeds the database and runs the job once per instance into demo_home before the UI starts.
	( DAGSTER_HOME=$$PWD/demo_home $(PY) -m devtools.demo serve-ui & echo $$! > .cache/demo-db.pid ); \
	until [ -f .cache/demo-ui-ready ]; do kill -0 $$(cat .cache/demo-db.pid) 2>/dev/null || exit 1; sleep 1; done; \
	DAGSTER_HOME=$$PWD/demo_home CONFIG_FILE_PATH=$$PWD/usermgmt_pipeline/demo/demo_config.yaml \
	  $(VENV)/bin/dagster dev -m usermgmt_pipeline.definitions -h 127.0.0.1 -p 3000; \
	kill $$(cat .cache/demo-db.pid) 2>/dev/null || true

typecheck: $(STAMP)  # mypy --strict on the whole package (pyproject.toml [tool.mypy])
	$(VENV)/bin/mypy

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .cache demo_home
