from mnistflow import atomic
from mnistflow.gan import fresh_samples, load_generator
from mnistflow.jobs import rule_context

with rule_context(snakemake):
    generator, state = load_generator(snakemake.input.generator)
    p = snakemake.params
    samples01 = fresh_samples(generator, state["classes"], state["config"]["noise_dim"], p.per_class, p.seed)
    atomic.save_npz_compressed(snakemake.output[0], samples=samples01)
