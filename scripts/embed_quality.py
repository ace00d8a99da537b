from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.embed import Embedding, quality_table
from mnistflow.report import table_page
from mnistflow.jobs import rule_context
from mnistflow.neighbours import NeighbourGraph

with rule_context(snakemake) as log:
    dataset = load_dataset(snakemake.input.dataset)
    embeddings = [Embedding.load(path) for path in snakemake.input.embeddings]
    p = snakemake.params
    table = quality_table(embeddings, dataset, p.knn_k, p.trustworthiness_sample, p.trustworthiness_neighbors, p.seed,
                          NeighbourGraph.load(snakemake.input.graph))
    log.info("\n%s", table.to_string(index=False))
    atomic.save_csv(snakemake.output.table, table)
    title = f"{snakemake.wildcards.dataset} embedding quality"
    atomic.write_text(snakemake.output.table_page, table_page(snakemake.output.table, title))
