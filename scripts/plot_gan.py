from mnistflow.plots_gan import write_gan_figures
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    inp = snakemake.input
    write_gan_figures(inp.generator, inp.frames, inp.losses, inp.quality, inp.dataset, dict(snakemake.output.items()),
                      histogram_images=snakemake.params.histogram_images, seed=snakemake.params.seed)
