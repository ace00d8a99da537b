# make run   - build .venv on first use, then run the default workflow
# make test  - build .venv on first use, then run the test suite
# Extra arguments: make run ARGS="-n"   make test ARGS="-k stats"
# make system-packages - (root, Debian) what the SLURM test needs; without it that test is skipped

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Rule scripts run with the python on PATH: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test venv lint system-packages

# A one-node SLURM cluster for tests/test_slurm.py (tests/slurm_cluster.py starts it)
SYSTEM_PACKAGES := slurmctld slurmd slurm-client munge

run: $(STAMP)
	$(BIN)/snakemake $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

system-packages:
	@if dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then echo "installed already: $(SYSTEM_PACKAGES)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	else echo "not root: $(SYSTEM_PACKAGES) not installed, so their tests will be skipped"; fi

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	grep -v '^MulticoreTSNE==' requirements.txt > $(VENV)/requirements-first-pass.txt
	$(BIN)/pip install --quiet -r $(VENV)/requirements-first-pass.txt
	$(BIN)/pip install --quiet --no-build-isolation -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@
