import pandas as pd

from mnistflow import atomic
from mnistflow.jobs import rule_context
from mnistflow.report import table_page

with rule_context(snakemake):
    results = pd.concat([pd.read_csv(path) for path in snakemake.input.runs], ignore_index=True)
    atomic.save_csv(snakemake.output.table, results)
    title = f"transfer {snakemake.wildcards.source} to {snakemake.wildcards.target}"
    atomic.write_text(snakemake.output.table_page, table_page(snakemake.output.table, title))
