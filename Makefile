# The two commands a newcomer needs: `make serve` and `make test`. Each sets itself up.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: serve test lint postgres clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## Start the server on the embedded default database (sqlite:///channel-users.db).
serve: $(STAMP)
	$(VENV)/bin/channel-users serve

## Lint, type-check and run the whole test suite (SQLite and PostgreSQL).
test: $(STAMP) postgres lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check channel_users tests
	$(VENV)/bin/mypy

## Make sure the PostgreSQL server the tests use is up (starts it, or installs it, if not).
postgres:
	scripts/ensure-postgres

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
