import pandas as pd

from mnistflow import atomic
from mnistflow.datasets import dataset_classes
from mnistflow.optimizers import summarize
from mnistflow.report import table_page
from mnistflow.jobs import rule_context

with rule_context(snakemake) as log:
    runs = pd.concat([pd.read_csv(path) for path in snakemake.input.runs], ignore_index=True)
    # a diverged seed counts at chance accuracy, 1 / classes
    table = summarize(runs, len(dataset_classes(snakemake.input.dataset)))
    log.info("\n%s", table.to_string(index=False))
    atomic.save_csv(snakemake.output.table, table)
    title = f"{snakemake.wildcards.dataset} optimizer comparison"
    atomic.write_text(snakemake.output.table_page, table_page(snakemake.output.table, title))
