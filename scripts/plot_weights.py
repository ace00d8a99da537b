from mnistflow import atomic
from mnistflow.animation import save_contact_sheet, save_gif
from mnistflow.jobs import rule_context
from mnistflow.plots_introspect import weight_bands, weight_frames

with rule_context(snakemake):
    out = snakemake.output
    weights = atomic.load_arrays(snakemake.input.weights)
    frames = weight_frames(weights)
    save_gif(frames, out.gif)
    save_contact_sheet(frames, out.sheet)
    atomic.save_figure(out.bands, weight_bands(weights))
