# mnistflow: "MNIST - Exploration to Execution" as a reproducible workflow.
# Run: snakemake --cores 8 --resources gpu=1   (see README.md)

import os

from snakemake.utils import min_version

from mnistflow.config import check_config, validate_config

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


validate_config(config, workflow.source_path("workflow/schemas/config.schema.yaml"))
check_config(config)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/optimizers.smk"
include: "workflow/rules/introspect.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(config),
