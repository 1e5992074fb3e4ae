# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
HOST   ?= 127.0.0.1

.PHONY: run serve test demo bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

## make run: install, load the demo organisation into an empty database, start the dashboard
## (ui/launch.py checks first: a non-loopback HOST needs sign-in or ALLOW_ANONYMOUS=1)
## (metrics derive stores the pages' default views for the data now: a fast first page;
## a failure there only costs speed, so make goes on)
run: $(VENV)/.runtime
	$(PY) -m connectors demo --if-empty
	-$(PY) -m metrics derive
	$(PY) -m ui.launch --host $(HOST) --port $(PORT)

## make serve: the dashboard and the scheduler together, for a team; Ctrl-C stops both
serve: $(VENV)/.runtime
	$(PY) -m ui.launch --host $(HOST) --port $(PORT) --with '$(PY) -m jobs schedule'

## make test: install the dev requirements and run the whole suite
test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

## make demo: reload the demo organisation (SCALE=10 for a bigger one)
demo: $(VENV)/.runtime
	$(PY) -m connectors demo --scale $(or $(SCALE),1)

## make bench: run the benchmarks in bench/ and print their ratios
bench: $(VENV)/.dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache
