from mnistflow import atomic
from mnistflow.report import table_page
from mnistflow.jobs import rule_context
from mnistflow.search import leaderboard

with rule_context(snakemake) as log:
    table = leaderboard(snakemake.input.metrics, snakemake.params.runs)
    log.info("\n%s", table.to_string(index=False))
    atomic.save_csv(snakemake.output.table, table)
    title = f"{snakemake.wildcards.dataset} leaderboard"
    atomic.write_text(snakemake.output.table_page, table_page(snakemake.output.table, title))
