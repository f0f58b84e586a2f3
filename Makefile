# The two commands of the README: `make demo` and `make test`. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# WeasyPrint (pango, harfbuzz subsetting), the CJK font of reports and UI, the stock
# OpenSSH client for gateway tests and sshd (with its sftp-server) as their baseline,
# Chromium for page tests, poppler-utils (pdftotext, pdftoppm, pdffonts) to read the reports' PDFs back.
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig \
	fonts-noto-cjk openssh-client openssh-server chromium poppler-utils
TRANSLATIONS := $(patsubst %.po,%.mo,$(wildcard ncms/web/translations/*/LC_MESSAGES/messages.po))
BENCHES := $(notdir $(patsubst %/,%,$(dir $(wildcard bench/*/run.py))))

.PHONY: demo test faults bench system-packages install install-test translations clean airflow-trial bench-workbench

demo: system-packages install
	$(BIN)/ncms demo
	$(BIN)/ncms serve

# Each test file runs whole on one of PYTEST_WORKERS processes (pytest-xdist, --dist loadfile:
# a file's module fixtures are built once); PYTEST_WORKERS=0 runs them one after another.
PYTEST_WORKERS ?= 4
test: system-packages install-test
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# kill -9 of ingest, ETL, gateway and monitor at seeded moments, and the re-upload race:
# docs/faults.md (one seed: NCMS_FAULT_SEED=7 make faults). Also part of `make test`.
faults: install-test
	$(BIN)/pytest tests/faults $(PYTEST_ARGS)

bench: $(addprefix bench-,$(BENCHES)) bench-workbench
	@[ -n "$(BENCHES)" ] || echo "no benchmarks yet (bench/*/run.py)"

bench-%: install-test
	$(BIN)/python bench/$*/run.py

# the findings workbench under 20 users at 100,000 findings (bench/web/workbench.py)
bench-workbench: install-test
	$(BIN)/python bench/web/workbench.py

# A real Airflow (PostgreSQL metadata, Celery on the local Redis) running the county DAGs side
# by side, then stopped: docs/operations.md.
airflow-trial: install-test
	$(BIN)/python scripts/airflow-trial

system-packages:
	@scripts/system-packages $(SYSTEM_PACKAGES)

install: $(VENV)/.installed translations
install-test: $(VENV)/.installed-test translations

$(VENV)/bin/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: setup.cfg setup.py pyproject.toml | $(VENV)/bin/pip
	$(BIN)/pip install -q -e '.[postgres]'
	touch $@

# Airflow is in the test environment: the DAG tests load the real DagBag and run a DAG.
$(VENV)/.installed-test: setup.cfg setup.py pyproject.toml | $(VENV)/bin/pip
	$(BIN)/pip install -q -e '.[postgres,mysql,test,airflow]'
	touch $@ $(VENV)/.installed

translations: $(TRANSLATIONS)

%.mo: %.po | $(VENV)/.installed
	$(BIN)/pybabel -q compile -i $< -o $@

# Refresh the catalogue after changing user-visible strings, then translate the .po files.
messages: install
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o ncms/web/translations/messages.pot .
	$(BIN)/pybabel -q update -i ncms/web/translations/messages.pot -d ncms/web/translations

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis $(TRANSLATIONS)
