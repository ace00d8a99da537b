from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.gan import fresh_samples, load_generator
from mnistflow.gan_quality import pixel_comparison
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    generator, state = load_generator(snakemake.input.generator)
    dataset = load_dataset(snakemake.input.dataset)
    p = snakemake.params
    samples01 = fresh_samples(generator, state["classes"], state["config"]["noise_dim"],
                              max(p.grid, p.histogram_images), p.seed)
    comparison = pixel_comparison(samples01, dataset.test_images, dataset.test_labels, p.histogram_images)
    atomic.save_npz_compressed(snakemake.output[0], classes=list(dataset.classes), grid=samples01[:, :p.grid],
                               **comparison)
