from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.report import table_page
from mnistflow.jobs import rule_context
from mnistflow.stats import Summary

with rule_context(snakemake) as log:
    summary = Summary.compute(load_dataset(snakemake.input.dataset))
    summary.save(snakemake.output.summary)
    table = summary.table()
    atomic.save_csv(snakemake.output.table, table)
    title = f"{snakemake.wildcards.dataset} statistics"
    atomic.write_text(snakemake.output.table_page, table_page(snakemake.output.table, title))
    log.info("\n%s", table[table.label == "all"].to_string(index=False))
