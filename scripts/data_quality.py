from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import PCAResult
from mnistflow.jobs import rule_context
from mnistflow.neighbours import NeighbourGraph
from mnistflow.quality import OutOfSample, assess
from mnistflow.report import table_page

with rule_context(snakemake) as log:
    dataset = load_dataset(snakemake.input.dataset)
    quality = assess(dataset, OutOfSample.load(snakemake.input.probabilities),
                     PCAResult.load(snakemake.input.projection).projection, NeighbourGraph.load(snakemake.input.graph),
                     threads=snakemake.threads, **dict(snakemake.params.items()))
    out = snakemake.output
    atomic.save_npz(out.scores, **quality.scores())
    for path, table in ((out.label_issues, quality.label_issue_table()), (out.duplicates, quality.duplicate_table()),
                        (out.outliers, quality.outlier_table()), (out.classes, quality.class_table()),
                        (out.summary, quality.summary())):
        atomic.save_csv(path, table)
    atomic.save_csv(out.label_joint, quality.joint_table().reset_index())
    atomic.write_text(out.table_page, table_page(out.label_issues, f"{dataset.name}: suspected label errors"))
    log.info("%s", quality.summary().iloc[0].to_dict())
