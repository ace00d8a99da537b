import pandas as pd

from mnistflow import atomic
from mnistflow.animation import save_contact_sheet, save_gif
from mnistflow.datasets import load_dataset
from mnistflow.jobs import rule_context
from mnistflow.plots_gan import frame_images, gan_figures

with rule_context(snakemake):
    inp, out = snakemake.input, snakemake.output
    with atomic.load_npz(inp.frames) as dump:
        frames = frame_images(dump["frames"], dump["epochs"])
    save_gif(frames, out.gif, milliseconds=300)
    save_contact_sheet(frames, out.sheet)
    with atomic.load_npz(inp.samples) as dump:
        samples01 = dump["samples"]
    dataset = load_dataset(inp.dataset)
    figures = gan_figures(pd.read_csv(inp.losses), pd.read_csv(inp.quality), samples01, dataset.test_images,
                          dataset.test_labels, dataset.classes, snakemake.wildcards.gan, snakemake.params.per_class,
                          snakemake.params.histogram_images)
    for name, figure in figures.items():
        atomic.save_figure(out[name], figure)
