from mnistflow import atomic
from mnistflow.animation import save_contact_sheet, save_gif
from mnistflow.jobs import rule_context
from mnistflow.plots_introspect import gradient_flow, gradient_frames, gradient_norms

with rule_context(snakemake):
    out = snakemake.output
    gradients = atomic.load_arrays(snakemake.input.gradients)
    atomic.save_figure(out.flow, gradient_flow(gradients))
    atomic.save_figure(out.norms, gradient_norms(gradients))
    frames = gradient_frames(gradients)
    save_gif(frames, out.gif)
    save_contact_sheet(frames, out.sheet)
