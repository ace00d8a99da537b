# mnistflow: "MNIST - Exploration to Execution" as a reproducible workflow.
# Run: snakemake --cores 8 --resources gpu=1   (see README.md)

import os

from snakemake.utils import min_version

from mnistflow.config import validate_config

min_version("9.0")


configfile: "config.yaml"


validate_config(config, workflow.source_path("workflow/schemas/config.schema.yaml"))

# envs/*.yaml install this package from here when running with --sdm conda.
os.environ["MNISTFLOW_ROOT"] = workflow.basedir


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/stats.smk"


rule all:
    input:
        all_targets(),
    default_target: True
