from mnistflow import atomic
from mnistflow.jobs import rule_context
from mnistflow.quality import headline_table
from mnistflow.report import headline

with rule_context(snakemake):
    tables = dict(snakemake.params.tables)
    # the data-quality table comes from quality.py: report.py is a code input of most rules, and a
    # part added to it would rerun them all
    sections = [headline(**{k: v for k, v in tables.items() if k != "quality_summaries"}),
                headline_table(tables["quality_summaries"])]
    atomic.write_text(snakemake.output[0], "\n".join(section for section in sections if section))
