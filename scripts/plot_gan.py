import pandas as pd

from mnistflow import atomic
from mnistflow.animation import save_contact_sheet, save_gif
from mnistflow.jobs import rule_context
from mnistflow.plots_gan import frame_images, gan_figures

with rule_context(snakemake):
    inp, out = snakemake.input, snakemake.output
    with atomic.load_npz(inp.frames) as dump:
        frames = frame_images(dump["frames"], dump["epochs"])
    save_gif(frames, out.gif, milliseconds=300)
    save_contact_sheet(frames, out.sheet)
    fresh = atomic.load_arrays(inp.samples)
    figures = gan_figures(pd.read_csv(inp.losses), pd.read_csv(inp.quality), fresh, snakemake.wildcards.gan)
    for name, figure in figures.items():
        atomic.save_figure(out[name], figure)
