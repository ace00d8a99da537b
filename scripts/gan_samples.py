from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.gan import fresh_samples, load_generator, shown_classes
from mnistflow.gan_quality import pixel_comparison
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    generator, state = load_generator(snakemake.input.generator)
    dataset = load_dataset(snakemake.input.dataset)
    p = snakemake.params
    shown = shown_classes(state["classes"])
    samples01 = fresh_samples(generator, shown, state["config"]["noise_dim"], max(p.grid, p.histogram_images), p.seed)
    comparison = pixel_comparison(samples01, shown, dataset.test_images, dataset.test_labels, p.histogram_images)
    atomic.save_npz_compressed(snakemake.output[0], classes=[dataset.classes[c] for c in shown],
                               grid=samples01[:, :p.grid], **comparison)
