from mnistflow import atomic
from mnistflow.datasets import load_dataset
from mnistflow.gan import GanConfig, GanTrainer
from mnistflow.gan_quality import Scorer, scoring_reference
from mnistflow.graphs import graphs_wanted
from mnistflow.jobs import rule_context
from mnistflow.report import table_page
from mnistflow.train import pick_device

with rule_context(snakemake) as log:
    out = snakemake.output
    config = GanConfig(**snakemake.params.settings)
    device = pick_device()
    dataset = load_dataset(snakemake.input.dataset)
    scorer = Scorer(snakemake.input.classifier, device)
    log.info("%s; quality scored with %s", config, snakemake.input.classifier)
    # scored against the training images the classifier held out; the real-data floor: test images
    reference = scoring_reference(scorer, dataset, config.train_subset)
    log.info("scoring reference: %d held-out training images; floor pool: %d test images; %d samples a point",
             reference.reference_images, len(reference.floor_labels), config.quality_samples)
    trainer = GanTrainer(config, dataset.train_images, dataset.train_labels, snakemake.params.resume, scorer,
                         reference, device, len(dataset.classes), log.info, log.handlers[0].stream,
                         graphs=graphs_wanted(snakemake.params.cuda_graphs, device))
    trainer.run()
    log.info("CUDA graphs (train.cuda_graphs: %s): %d steps replayed", snakemake.params.cuda_graphs,
             trainer.step.replays)
    atomic.save_csv(out.losses, trainer.losses_table())
    atomic.save_npz_compressed(out.frames, **trainer.frame_arrays())
    atomic.save_csv(out.quality, trainer.quality_table())
    atomic.write_text(out.quality_page, table_page(out.quality, f"{snakemake.wildcards.gan} quality on "
                                                              f"{snakemake.wildcards.dataset}"))
    trainer.save(out.generator)
    trainer.resume_path.unlink(missing_ok=True)
