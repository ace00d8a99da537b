from mnistflow.datasets import load_dataset
from mnistflow.errors import ConfigValueError
from mnistflow.jobs import rule_context
from mnistflow import atomic
from mnistflow.graphs import graphs_wanted
from mnistflow.train import TensorData, TrainConfig, Trainer, pick_device

with rule_context(snakemake) as log:
    config = TrainConfig(**snakemake.params.run)
    device = pick_device()
    log.info("run %s on %s: %s", snakemake.wildcards.run, device, config)
    dataset = load_dataset(snakemake.input.dataset)
    try:
        data = TensorData.for_run(dataset, config, device)
    except ValueError as exc:  # a validation split as large as the training images
        raise ConfigValueError(f"training run {snakemake.wildcards.run} (train.runs / train.defaults): {exc}") from None
    progress = log.handlers[0].stream
    trainer = Trainer(config, data, snakemake.params.resume, log=log.info, progress_file=progress,
                      recording=snakemake.params.recording, graphs=graphs_wanted(snakemake.params.cuda_graphs, device))
    metrics = trainer.run()
    log.info("CUDA graphs (train.cuda_graphs: %s): %d steps replayed", snakemake.params.cuda_graphs,
             trainer.step.graph.replays)
    if trainer.recorder is not None:
        atomic.save_npz_compressed(snakemake.output.weights, **trainer.recorder.weight_arrays())
        atomic.save_npz_compressed(snakemake.output.gradients, **trainer.recorder.gradient_arrays())
    atomic.save_csv(snakemake.output.metrics, metrics)
    trainer.save(snakemake.output.model, metrics)
    trainer.resume_path.unlink(missing_ok=True)
