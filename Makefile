# The Makefile is the interface: every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
RUNTIME := .venv-runtime
BIN := $(VENV)/bin
TBIN := $(TOOLS)/bin
OUT ?= out

export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
# pip prints a warning per missing local mirror folder on some machines; keep the output readable.
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: install tools runtime-python lint format typecheck cfn-lint validate build test test-clock unit integration bench demo \
        check-office preview deploy clean

$(VENV)/.installed: requirements/dev.txt layers/timereports/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements/dev.txt
	$(PIP) install --no-deps -e .
	touch $@

$(TOOLS)/.installed: requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TBIN)/pip --disable-pip-version-check -q install -r requirements/tools.txt
	touch $@

install: $(VENV)/.installed

tools: $(TOOLS)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy functions/run_report/app.py
	$(BIN)/mypy functions/dispatch/app.py
	$(BIN)/mypy functions/reports_api/app.py
	$(BIN)/mypy functions/email_feedback/app.py

cfn-lint: tools
	$(TBIN)/cfn-lint template.yaml

validate: install
	$(BIN)/timereports validate reports/

# The Lambda runtime's Python (3.13), only to compile the bytecode the layer and the functions ship (sam.mk says why).
runtime-python:
	dev/fetch_runtime_python.sh $(RUNTIME) \
		|| echo "runtime-python: no Python 3.13 for this machine; the build ships sources only (Lambda compiles them at each cold start)"

build: install tools runtime-python
	$(TBIN)/sam build --template-file template.yaml

unit: install
	$(BIN)/pytest tests/unit tests/contract -q

integration: install
	$(BIN)/pytest tests/integration -q

test: lint typecheck cfn-lint validate build
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory test-clock

# The suite again with every clock of the process a year ahead (libfaketime): a test that reads the wall date, or code
# under test that mixes a frozen clock with moto's real one, fails here instead of on some later day.
CLOCK_AHEAD ?= +400d
test-clock: install
	command -v faketime >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null) \
		|| echo "test-clock: faketime cannot be installed here (needs apt-get as root); the clock-moved run is skipped"
	if command -v faketime >/dev/null; then faketime -f '$(CLOCK_AHEAD)' $(BIN)/pytest -q -p no:cacheprovider; fi

# The layer's libraries and the dev boto3 for the runtime's Python on this machine, beside it: `make bench` measures the
# cold starts on the Python Lambda runs too. Skipped, saying so, when there is no runtime Python (the bench says it too).
RUNTIME_SITE := $(RUNTIME)/site
$(RUNTIME_SITE)/.installed: layers/timereports/requirements.txt requirements/dev.txt $(VENV)/.installed
	if [ -x $(RUNTIME)/bin/python3.13 ]; then \
		rm -rf $(RUNTIME_SITE) && \
		$(PIP) install --target $(RUNTIME_SITE) --implementation cp --python-version 3.13 --only-binary=:all: \
			--platform manylinux_2_17_$$(uname -m) --platform manylinux2014_$$(uname -m) \
			-r layers/timereports/requirements.txt $$(grep -E '^boto3==' requirements/dev.txt) \
			"botocore==$$($(BIN)/python -c 'import botocore; print(botocore.__version__)')" && touch $@; \
	else echo "runtime-site: no Python 3.13 here (make runtime-python); the bench measures on $(PYTHON) only"; fi

bench: install runtime-python
	$(MAKE) --no-print-directory $(RUNTIME_SITE)/.installed
	$(BIN)/python -m bench

demo: install
	$(BIN)/python -m timereports_dev.demo --out $(OUT)

check-office: install
	command -v soffice >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-calc-nogui >/dev/null)
	$(BIN)/pytest -q -m office tests

preview: install
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	$(BIN)/pytest -q -m browser tests
	@echo "Screenshots: $(OUT)/preview/"

deploy: build
	$(TBIN)/sam deploy --guided

clean:
	rm -rf $(VENV) $(TOOLS) $(RUNTIME) .aws-sam $(OUT) .pytest_cache .ruff_cache .mypy_cache .hypothesis

# SAM build targets (makefile build method) live in sam.mk.
-include sam.mk
