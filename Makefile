# make run   - build .venv on first use, then run the default workflow
# make test  - build .venv on first use, then run the test suite
# Extra arguments: make run ARGS="-n"   make test ARGS="-k stats"
# make report - the Snakemake report of the last run: results/report.zip (open report/report.html inside)
# make system-packages - (root, Debian) what the SLURM and browser tests need; without it they are skipped

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Rule scripts run with the python on PATH: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test venv lint report system-packages

# A one-node SLURM cluster for tests/test_slurm.py (tests/slurm_cluster.py starts it) and the
# headless browser tests/test_report.py opens the report in
SYSTEM_PACKAGES := slurmctld slurmd slurm-client munge chromium chromium-driver

run: $(STAMP)
	$(BIN)/snakemake $(ARGS)

report: $(STAMP)
	$(BIN)/snakemake --report results/report.zip $(ARGS)

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
