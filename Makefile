# Springtail: `make demo` and `make test` work on a fresh machine (each runs `make setup` first).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.springtail-installed
# Debian packages: Coq 8.16 (required), CoqHammer and the ATPs it calls (the `hammer` baseline),
# Coquelicot (miniF2F-Coq's problems import it), Interval and csdp (the `interval` and `psatz`
# closers of `--arith`).
APT_PACKAGES := coq libcoq-hammer libcoq-coquelicot libcoq-interval coinor-csdp eprover z3 cvc4

.PHONY: setup demo test lint coq clean

setup: $(STAMP) coq

# torch first, pinned: 2.13.0 is the CPU wheel on disk here; an unpinned or newer torch
# would download several GB of CUDA builds.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

coq:
	@if command -v coqidetop.opt >/dev/null 2>&1 && command -v coqc >/dev/null 2>&1 \
	    && command -v eprover >/dev/null 2>&1 && command -v csdp >/dev/null 2>&1 \
	    && [ -d "$$(coqc -where)/user-contrib/Coquelicot" ] \
	    && [ -d "$$(coqc -where)/user-contrib/Interval" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(APT_PACKAGES) from Debian's packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	elif ! command -v coqidetop.opt >/dev/null 2>&1; then \
	    echo "Coq 8.16 is missing: run 'sudo apt-get install -y $(APT_PACKAGES)' and retry"; exit 1; \
	else \
	    echo "warning: CoqHammer's provers, Coquelicot, Interval or csdp are missing (the hammer" \
	        "baseline, miniF2F-Coq and --arith need them): run 'sudo apt-get install -y $(APT_PACKAGES)'"; \
	fi

demo: setup
	$(PY) -m eval.demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check prover kernels eval tests bench
	$(VENV)/bin/ruff format --check prover kernels eval tests bench
	$(VENV)/bin/mypy prover kernels

clean:
	rm -rf $(VENV) .pytest_cache datasets/build
