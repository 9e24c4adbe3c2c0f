# Two commands on a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3.11
VENV := .venv
# uv installs the pinned set (`-c constraints.txt`) several times faster than pip; it comes from
# PyPI at this version. When it cannot be had or fails, pip installs the same set.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
DEPS := pyproject.toml constraints.txt

.PHONY: demo test install services lint bench clean _runtime

# Reinstall only when the dependency set changed: a no-op when already installed.
# $(1): the extras to install ('' or '[dev]'); $(2): what for, in the progress line.
define install_pinned
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@start=$$(date +%s); echo "==> [install] the pinned dependency set$(2) into $(VENV) (uv $(UV_VERSION))"; \
	if { $(UV) --version 2>/dev/null | grep -qx "uv $(UV_VERSION)" || \
	     $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; } && \
	   $(UV) pip install --python $(VENV)/bin/python --compile-bytecode -c constraints.txt -e '.$(1)'; then :; \
	else echo "==> [install] uv unavailable or failed: installing with pip"; \
	   $(VENV)/bin/python -m pip install --disable-pip-version-check -c constraints.txt -e '.$(1)' || exit 1; fi; \
	echo "==> [install] done in $$(( $$(date +%s) - start )) s"
endef

# The demo needs the runtime set only; the tests add the dev extras (test tools, browsers' driver).
$(RUNTIME): $(DEPS)
	@if [ -f $(DEV) ] && [ $(DEV) -nt pyproject.toml ] && [ $(DEV) -nt constraints.txt ]; then :; else \
	  $(MAKE) --no-print-directory _runtime; fi
	@touch $(RUNTIME)

$(DEV): $(DEPS)
	$(call install_pinned,[dev], with the test tools)
	@touch $(DEV) $(RUNTIME)

_runtime:
	$(call install_pinned,,)

install: $(DEV)

demo: $(RUNTIME)
	$(VENV)/bin/lupus demo

services:
	@echo "==> [services] PostgreSQL, Chromium, OpenSearch jars (what is missing)"
	bash tests/services/install.sh

# Two workers (one per core: much of the suite waits on servers and browsers); a test file stays on
# one worker so its module fixtures (a demo build, a server) are built once. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: $(DEV) services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(DEV)
	$(VENV)/bin/python benchmarks/store_bench.py

clean:
	rm -rf $(VENV) .lupus .pytest_cache
