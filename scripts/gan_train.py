from mnistflow.gan import train_gan
from mnistflow.report import write_table_page
from mnistflow.jobs import rule_context
from mnistflow.train import pick_device

with rule_context(snakemake) as log:
    out = snakemake.output
    train_gan(snakemake.params.settings, snakemake.input.dataset, snakemake.input.classifier,
              snakemake.params.resume, out.generator, out.losses, out.frames, out.quality,
              snakemake.params.final_samples, pick_device(), log.info, log.handlers[0].stream)
    write_table_page(out.quality, out.quality_page, f"{snakemake.wildcards.gan} quality on {snakemake.wildcards.dataset}")
