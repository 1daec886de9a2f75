# SAM build targets for `Metadata: BuildMethod: makefile` (included by the root Makefile and by the
# Makefile in each CodeUri: layers/timereports, functions/run_report, functions/dispatch, functions/reports_api,
# functions/email_feedback).
#
# Why the makefile method: SAM's Python builder refuses python3.13 unless that exact interpreter is on
# the PATH, and --use-container needs Docker. pip can fetch the Lambda platform's wheels from any host
# instead (--platform/--implementation/--python-version/--only-binary).
#
# How the repo root is found: SAM copies the CodeUri to a scratch directory and runs make there
# (cwd = scratch), but passes `--makefile` as the absolute path of the Makefile in the real source
# tree, which includes this file by absolute path. So this file's own location, taken from
# MAKEFILE_LIST when it is parsed, is the repo root whoever includes it. (`sam build --use-container`
# mounts only the CodeUri and is therefore not supported; it is not needed either.)
SAM_ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# Any pip works for a --target install; prefer the tools venv, which `make build` has just made.
SAM_PYTHON ?= $(firstword $(wildcard $(SAM_ROOT)/.venv-tools/bin/python) python3)
# --no-warn-conflicts: the --target install is checked against the tools venv's packages (the SAM CLI's pins),
# which it never meets; without it every build prints a false "ERROR: ... requires pydantic~=...".
SAM_PIP_INSTALL = $(SAM_PYTHON) -m pip --disable-pip-version-check --no-input -q install --no-warn-conflicts
comma := ,
# Lambda python3.13 on arm64 (Graviton). Older aarch64 wheels are tagged manylinux2014, newer ones manylinux_2_28.
SAM_RUNTIME_VERSION := 3.13
SAM_WHEEL_PLATFORM := --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64 \
	--implementation cp --python-version $(SAM_RUNTIME_VERSION) --only-binary=:all:
# The runtime's Python, to compile the bytecode the artifacts ship: `make runtime-python` fetches one
# (dev/fetch_runtime_python.sh), else one on the PATH. Each candidate is run, not just found: a pyenv shim named
# python3.13 exists without a 3.13 behind it. Without one that runs the artifacts ship sources only.
ifndef SAM_RUNTIME_PYTHON
SAM_RUNTIME_PYTHON := $(shell for candidate in $(wildcard $(SAM_ROOT)/.venv-runtime/bin/python$(SAM_RUNTIME_VERSION)) \
	$$(command -v python$(SAM_RUNTIME_VERSION) 2>/dev/null); do \
	"$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma) ,$(SAM_RUNTIME_VERSION))))' \
	2>/dev/null && { echo "$$candidate"; break; }; done)
endif
# The Lambda runtime ships boto3/botocore; aws-xray-sdk (Powertools' tracer extra) pulls botocore in again.
# A second, newer botocore in /opt/python would shadow the runtime's and split it from the runtime's boto3.
SAM_RUNTIME_PROVIDED := botocore botocore-* s3transfer s3transfer-* boto3 boto3-* dateutil python_dateutil-* six.py six-*

# Bytecode for the runtime's Python, beside the sources, checked by hash only: Lambda's /opt and /var/task are
# read-only, so a module without it is compiled again at every cold start (`make bench` measures what that costs),
# and a zip does not keep the timestamps a timestamp check would compare. pip's own compile would be the build
# host's Python's bytecode (3.11 here), useless on 3.13, hence --no-compile and this step.
define sam_compile
	@if [ -n "$(SAM_RUNTIME_PYTHON)" ]; then \
		"$(SAM_RUNTIME_PYTHON)" -c 'import sys; sys.exit(not sys.version.startswith("$(SAM_RUNTIME_VERSION)."))' \
			|| { echo "sam.mk: $(SAM_RUNTIME_PYTHON) is not Python $(SAM_RUNTIME_VERSION)" >&2; exit 1; }; \
		"$(SAM_RUNTIME_PYTHON)" -m compileall -q -j 1 --invalidation-mode unchecked-hash "$(1)"; \
	else \
		echo "sam.mk: no Python $(SAM_RUNTIME_VERSION) (make runtime-python): $(1) ships without bytecode, so Lambda compiles it at every cold start"; \
	fi
endef

.PHONY: build-TimereportsLayer build-RunReportFunction build-DispatchFunction build-ReportsApiFunction build-EmailFeedbackFunction

# The layer: pinned dependencies for the Lambda platform, then the domain package, all under python/.
build-TimereportsLayer:
	$(SAM_PIP_INSTALL) $(SAM_WHEEL_PLATFORM) --no-compile \
		--target "$(ARTIFACTS_DIR)/python" -r "$(SAM_ROOT)/layers/timereports/requirements.txt"
	cd "$(ARTIFACTS_DIR)/python" && rm -rf $(SAM_RUNTIME_PROVIDED) bin
	cp -R "$(SAM_ROOT)/layers/timereports/timereports" "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python" -name __pycache__ -type d -prune -exec rm -rf {} +
	$(call sam_compile,$(ARTIFACTS_DIR)/python)

# The development venv, complete (`make install` writes .installed last), which validates the catalogue and writes
# it as JSON for the functions: so `make build` installs it first, and a bare `sam build` needs it made.
SAM_CATALOGUE_PYTHON ?= $(if $(wildcard $(SAM_ROOT)/.venv/.installed),$(SAM_ROOT)/.venv/bin/python)

# A function artifact: its handler module(s) and the report catalogue. The catalogue ships with each
# function rather than with the layer: it is configuration that changes more often than the code, and
# a change then redeploys two small zips, not the layer (20 MB unzipped). It ships validated and as JSON
# (timereports_dev.ship_catalogue): an invalid definition fails the build, not its first run, and the
# functions read it without a YAML parser.
define sam_function_build
	cp "$(SAM_ROOT)"/functions/$(1)/*.py "$(ARTIFACTS_DIR)/"
	@test -n "$(SAM_CATALOGUE_PYTHON)" \
		|| { echo "sam.mk: no complete .venv to validate the catalogue with: run make build (it runs make install)" >&2; exit 1; }
	"$(SAM_CATALOGUE_PYTHON)" -m timereports_dev.ship_catalogue "$(SAM_ROOT)/reports" "$(ARTIFACTS_DIR)/reports"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	$(call sam_compile,$(ARTIFACTS_DIR))
endef

build-RunReportFunction:
	$(call sam_function_build,run_report)

build-DispatchFunction:
	$(call sam_function_build,dispatch)

build-ReportsApiFunction:
	$(call sam_function_build,reports_api)

build-EmailFeedbackFunction:
	$(call sam_function_build,email_feedback)
