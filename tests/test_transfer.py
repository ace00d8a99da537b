"""Transfer learning on tiny synthetic source and target datasets."""

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from mnistflow import atomic
from mnistflow.checkpoint import InputPipeline
from mnistflow.datasets import DatasetSpec, read_raw
from mnistflow.plots_transfer import label_efficiency
from mnistflow.transfer_results import summarise
from mnistflow.train import TensorData, Trainer
from mnistflow.transfer import (
    budget_indices,
    extract_features,
    imagenet_weights_file,
    load_features,
    load_source,
    run_strategy,
    backbone_features,
    train_one,
    ValidationShare,
)

from conftest import fit_recipe, train_recipe

FIT = fit_recipe(lr=0.01, batch_size=32, max_steps=5, eval_every=5)
SHARE, ONE_RATE = ValidationShare(fraction=0.2, max_per_class=100), (1.0,)


def read_synthetic(directory, name, seed, n_train=300):
    from synthetic import write_dataset

    written = write_dataset(directory, n_train=n_train, n_test=100, seed=seed)
    return read_raw(DatasetSpec.from_config(name, written["entry"]), directory)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A source checkpoint (the best model, one epoch on the source) and a target dataset."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("transfer")
    source = read_synthetic(root / "source-idx", "source", seed=1)
    target = read_synthetic(root / "target-idx", "target", seed=2)
    config = train_recipe(model="best", optimizer="Adam", optimizer_kwargs={"lr": 0.01}, epochs=1,
                         batch_size=32, seed=3)
    trainer = Trainer(config, TensorData.for_run(source, config), root / "resume.pt", log=lambda m: None, graphs=False)
    checkpoint = root / "model.pt"
    trainer.save(checkpoint, trainer.run())
    return {"root": root, "checkpoint": checkpoint, "target": target,
            "source": load_source("source", checkpoint)}


def pretrained_state(checkpoint):
    state = torch.load(checkpoint, weights_only=False)["model"]
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def labelled(target, per_class):
    index = budget_indices(target.train_labels, per_class, seed=0)
    return torch.from_numpy(target.train_images[index]), torch.from_numpy(target.train_labels[index])


def validation_split(target, per_class=6):
    index = budget_indices(target.train_labels, per_class, seed=9)
    return torch.from_numpy(target.train_images[index]), torch.from_numpy(target.train_labels[index].astype(np.int64))


def test_budget_takes_exactly_k_per_class_its_own_for_each_seed_and_nested_within_one():
    labels = np.random.default_rng(0).integers(0, 10, size=2000)
    small, large = budget_indices(labels, 5, seed=4), budget_indices(labels, 50, seed=4)
    assert np.bincount(labels[small], minlength=10).tolist() == [5] * 10
    assert np.bincount(labels[large], minlength=10).tolist() == [50] * 10
    assert np.array_equal(small, budget_indices(labels, 5, seed=4))
    assert set(small) <= set(large)  # nested within a seed
    other = budget_indices(labels, 5, seed=5)  # another seed draws other images
    assert len(set(small) & set(other)) < 10
    assert np.array_equal(budget_indices(labels, None, seed=4), np.arange(2000))
    counts = np.bincount(labels)
    with pytest.raises(ValueError, match=f"budget 1000 per class: class 0 has only {counts[0]}"):
        budget_indices(labels, 1000, seed=4)


def test_the_validation_share_comes_out_of_the_budget_stratified():
    labels = np.repeat(np.arange(10), 200)
    share = ValidationShare(fraction=0.2, max_per_class=100)
    assert [share.per_class(n) for n in (2, 3, 10, 100, 1000)] == [1, 1, 2, 20, 100]
    for per_class, held in ((2, 1), (10, 2), (100, 20), (None, 40)):
        budget = budget_indices(labels, per_class, seed=3)
        train, validation = share.split(labels, budget, seed=3)
        assert sorted(np.concatenate([train, validation])) == sorted(budget)  # every label is the budget's
        assert np.bincount(labels[validation], minlength=10).tolist() == [held] * 10
    with pytest.raises(ValueError, match="a budget needs at least 2 images of every class"):
        share.per_class(1)


def test_a_run_sees_only_its_budget_and_keeps_the_rate_its_validation_picks(pair, monkeypatch):
    import mnistflow.transfer as transfer

    fits, tested = [], []
    original_fit, original_evaluate = transfer.fit, transfer.evaluate
    wins = {0.01: 0.9, 0.03: 0.5, 0.1: 0.9}  # the recipe's rate and 10x it tie; 3x loses

    def fit(model, x, y, config, seed, validation, prepare=None):
        fitted = original_fit(model, x, y, config, seed, validation, prepare)
        fits.append({"lr": config.lr, "model": model, "train": x, "validation": validation[0]})
        return dataclasses.replace(fitted, val_accuracy=wins[round(config.lr, 6)])

    def evaluate(model, x, y, **kwargs):
        if len(y) == len(pair["target"].test_labels):  # the test set, not a validation share
            tested.append(model)
        return original_evaluate(model, x, y, **kwargs)

    monkeypatch.setattr(transfer, "fit", fit)
    monkeypatch.setattr(transfer, "evaluate", evaluate)
    results = run_strategy("scratch", pair["source"], pair["target"], [2, 10], [0, 1], FIT,
                           ValidationShare(0.2, 100), lr_factors=(10, 3, 1), log=lambda m: None)
    # tried nearest the recipe's rate first; the tie between 1x and 10x keeps 1x, and only its
    # model is scored on the test set, once per run
    assert [f["lr"] for f in fits] == pytest.approx([0.01, 0.03, 0.1] * 4)
    assert results.lr.tolist() == pytest.approx([0.01] * 4) and (results.lrs_tried == 3).all()
    assert len(tested) == 4 and all(m is fits[3 * k]["model"] for k, m in enumerate(tested))
    # each fit trains and validates on its budget's images: 2 of each class split 1 + 1, 10 split 8 + 2
    assert [(len(f["train"]), len(f["validation"])) for f in fits] == [(10, 10)] * 3 + [(80, 20)] * 3 + [
        (10, 10)] * 3 + [(80, 20)] * 3
    assert results.labels.tolist() == [20, 100, 20, 100]  # training and validation images together
    assert results.validation_images.tolist() == [10, 20, 10, 20]


def test_every_strategy_and_seed_trains_on_its_budget(pair):
    runs = []
    for strategy in ("scratch", "finetune"):
        runs.append(run_strategy(strategy, pair["source"], pair["target"], [2, None], [0, 1], FIT, SHARE, ONE_RATE,
                                 log=lambda m: None))
    features_path = pair["root"] / "features.npz"
    atomic.save_npz(features_path, **backbone_features(pair["source"], pair["target"], log=lambda m: None))
    runs.append(run_strategy("frozen", pair["source"], pair["target"], [2, None], [0, 1], FIT, SHARE, ONE_RATE,
                             features=load_features(features_path), log=lambda m: None))
    results = pd.concat(runs, ignore_index=True)
    assert len(results) == 3 * 2 * 2
    assert set(results[results.budget == "2"].labels) == {20}
    assert set(results[results.budget == "full"].labels) == {300}  # the validation share is the budget's
    assert results.test_accuracy.between(0, 1).all()
    assert (results[results.strategy == "frozen"].shared_seconds > 0).all()
    figure = label_efficiency(summarise(results), "source", "tiny", results.seed.nunique())
    assert [line.get_label().split(" (")[0] for line in figure.axes[0].get_lines()] == [
        "from scratch", "frozen features + linear head", "fine-tuned"]


def test_frozen_leaves_the_backbone_bit_identical_and_finetune_changes_it(pair):
    images, labels = labelled(pair["target"], 5)
    before = pretrained_state(pair["checkpoint"])
    backbone = pair["source"].transfer_net(10, pretrained=True, seed=0).backbone
    features = extract_features(backbone, images, pair["source"].pipeline)
    val_images, val_labels = validation_split(pair["target"])
    val_features = extract_features(backbone, val_images, pair["source"].pipeline)
    frozen, _ = train_one("frozen", pair["source"], images, labels, 10, 0, FIT, (val_features, val_labels),
                          (backbone, features))
    after = {f"features.{k}": v for k, v in frozen.backbone.features.state_dict().items()}
    assert after.keys() == before.keys()  # BatchNorm running statistics included
    assert all(torch.equal(after[k], before[k]) for k in before)
    # the frozen model's head was trained on exactly what the backbone computes
    with torch.no_grad():
        assert torch.allclose(frozen(pair["source"].pipeline(images)), frozen.head(features), atol=1e-5)

    finetuned, _ = train_one("finetune", pair["source"], images, labels, 10, 0, FIT, (val_images, val_labels))
    tuned = {f"features.{k}": v for k, v in finetuned.backbone.features.state_dict().items()}
    changed = [k for k in before if k.endswith("weight") and not torch.equal(tuned[k], before[k])]
    assert len(changed) == len([k for k in before if k.endswith("weight")])

    scratch, _ = train_one("scratch", pair["source"], images, labels, 10, 0, FIT, (val_images, val_labels))
    first_conv = "features.0.0.weight"
    assert not torch.equal(scratch.backbone.features.state_dict()["0.0.weight"], before[first_conv])


def test_cached_features_equal_a_fresh_forward_pass(pair):
    path = pair["root"] / "cached.npz"
    atomic.save_npz(path, **backbone_features(pair["source"], pair["target"], log=lambda m: None))
    cached = load_features(path)
    fresh_source = load_source("source", pair["checkpoint"])
    backbone = fresh_source.transfer_net(10, pretrained=True, seed=9).backbone
    for split in ("train", "test"):
        images = torch.from_numpy(getattr(pair["target"], f"{split}_images"))
        fresh = extract_features(backbone, images, fresh_source.pipeline).numpy()
        assert cached[split].shape == (len(images), 64 * 3 * 3)
        np.testing.assert_array_equal(cached[split], fresh)


def test_input_pipeline_resizes_to_three_normalised_channels():
    images = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    x = InputPipeline((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), size=64)(images)
    assert x.shape == (2, 3, 64, 64)
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(x[0, :, 10, 10], expected)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty torch hub cache of the test's own ($TORCH_HOME)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home"


def test_imagenet_weights_load_from_the_hub_cache_under_torchvision_file_name(hub_cache, pair, monkeypatch):
    import torchvision
    from tiny_workflow import imagenet_env, write_resnet18_weights

    path = imagenet_weights_file("resnet18")
    assert path.parent == hub_cache / "hub" / "checkpoints"
    assert path.name == torchvision.models.ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]
    # random weights, under a name carrying their own SHA-256 prefix, and a URL of that name
    written_path = write_resnet18_weights(hub_cache)
    for key, value in imagenet_env(hub_cache).items():
        monkeypatch.setenv(key, value)
    assert imagenet_weights_file("resnet18") == written_path
    torch.manual_seed(0)
    written = torchvision.models.resnet18().state_dict()

    source = load_source("imagenet_resnet18", image_size=32, download=False)
    net = source.transfer_net(10, pretrained=True, seed=0)
    loaded = net.backbone.state_dict()
    assert all(torch.equal(loaded[k], written[k]) for k in loaded)
    assert net.head.out_features == 10 and net.head.in_features == 512
    images, labels = labelled(pair["target"], 2)
    model, _ = train_one("finetune", source, images, labels, 10, 0, fit_recipe(batch_size=10, max_steps=2),
                         (images, labels))
    assert not model.training and model(source.pipeline(images[:3])).shape == (3, 10)


def weights_advice(path, url):
    return (f"It came from {url} into the torch hub cache ({path.parent}; set TORCH_HOME to move it): delete it "
            f"and run again to download it again (transfer.imagenet.download: true), or put the right file there")


@pytest.mark.parametrize("damage", ["truncated", "another file", "not a torch file"])
def test_imagenet_weights_whose_sha256_is_not_the_one_their_name_says_are_refused_before_any_work(
        hub_cache, damage):
    import hashlib

    import torchvision
    from tiny_workflow import write_resnet18_weights

    path = imagenet_weights_file("resnet18")  # torchvision's name: resnet18-f37072fd.pth
    fake = write_resnet18_weights(hub_cache)
    data = {"truncated": fake.read_bytes()[:1000], "another file": fake.read_bytes(),
            "not a torch file": b"<html>proxy login</html>"}[damage]
    fake.unlink()
    path.write_bytes(data)
    with pytest.raises(atomic.BrokenFileError) as failure:
        load_source("imagenet_resnet18", image_size=32, download=True)  # there: no download
    actual = hashlib.sha256(data).hexdigest()[:8]
    assert str(failure.value) == (
        f"{path}: not the ImageNet weights of resnet18: its SHA-256 starts {actual}, not f37072fd as its name says "
        f"({len(data)} bytes: truncated, damaged or another file). "
        + weights_advice(path, torchvision.models.ResNet18_Weights.DEFAULT.url))
    assert path.read_bytes() == data  # left for the user to see


@pytest.mark.parametrize("content", ["not a torch file", "another network"])
def test_imagenet_weights_with_the_right_hash_but_unloadable_are_refused_naming_the_file(
        hub_cache, monkeypatch, content):
    """A mirror's file (MNISTFLOW_IMAGENET_URL_<ARCHITECTURE>) whose hash matches its name but is
    no resnet18 state dict: the weights-only loader's error, with where it came from."""
    import hashlib

    source_file = hub_cache / "made.pth"
    source_file.parent.mkdir(parents=True)
    if content == "not a torch file":
        source_file.write_bytes(b"not a torch file")
    else:
        torch.save({"weight": torch.zeros(2)}, source_file)
    name = f"resnet18-{hashlib.sha256(source_file.read_bytes()).hexdigest()[:8]}.pth"
    url = f"https://mirror.invalid/weights/{name}"
    monkeypatch.setenv("MNISTFLOW_IMAGENET_URL_RESNET18", url)
    path = hub_cache / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True)
    source_file.replace(path)
    source = load_source("imagenet_resnet18", image_size=32, download=False)
    with pytest.raises(atomic.BrokenFileError) as failure:
        source.transfer_net(10, pretrained=True, seed=0)
    message = str(failure.value)
    problem = {"not a torch file": "not a readable torch file (",
               "another network": "not a state dict of torchvision's resnet18 (RuntimeError: Error(s) in loading "
                                  "state_dict for ResNet: Missing key(s) in state_dict: \"conv1.weight\""}[content]
    assert message.startswith(f"{path}: not the ImageNet weights of resnet18: {problem}")
    assert message.endswith(weights_advice(path, url))
    assert "snakemake --force" not in message  # not a workflow output


def test_imagenet_weights_are_downloaded_only_if_their_sha256_matches_their_name(hub_cache, monkeypatch, tmp_path):
    """torch.hub's download checks the hash prefix before the file takes its name in the cache
    (torchvision's own download does not)."""
    from tiny_workflow import write_resnet18_weights

    good = write_resnet18_weights(tmp_path / "mirror")
    bad = good.with_name("resnet18-00000000.pth")
    bad.write_bytes(good.read_bytes())
    monkeypatch.setenv("MNISTFLOW_IMAGENET_URL_RESNET18", bad.as_uri())
    with pytest.raises(FileNotFoundError) as failure:
        load_source("imagenet_resnet18", image_size=32, download=True)
    assert "no ImageNet weights for resnet18: the download failed (RuntimeError: invalid hash value" in str(
        failure.value)
    assert not (hub_cache / "hub" / "checkpoints" / bad.name).exists()

    monkeypatch.setenv("MNISTFLOW_IMAGENET_URL_RESNET18", good.as_uri())
    source = load_source("imagenet_resnet18", image_size=32, download=True)
    assert (hub_cache / "hub" / "checkpoints" / good.name).read_bytes() == good.read_bytes()
    assert source.transfer_net(10, pretrained=True, seed=0).head.in_features == 512


def test_missing_imagenet_weights_fail_at_once_saying_where_to_put_them(hub_cache):
    expected = hub_cache / "hub" / "checkpoints" / "vgg16-397923af.pth"
    with pytest.raises(FileNotFoundError) as failure:
        load_source("imagenet_vgg16", download=False)
    message = str(failure.value)
    assert "no ImageNet weights for vgg16: download is off" in message
    assert "Put the file vgg16-397923af.pth" in message and str(expected) in message
    with pytest.raises(ValueError, match="unknown ImageNet backbone 'alexnet'"):
        load_source("imagenet_alexnet")


def test_train_and_eval_modes(pair):
    """The article left VGG16 in eval mode while training (dropout off); here the network being
    trained is in train mode, and a frozen backbone in eval mode while it computes features."""
    images, labels = labelled(pair["target"], 3)
    source, modes = pair["source"], []
    build = source.build

    def hooked_build(pretrained):
        model = build(pretrained)
        model.features.register_forward_hook(lambda module, args, out: modes.append(module.training))
        return model

    source.build = hooked_build
    try:
        train_one("finetune", source, images, labels, 10, 0, FIT, validation_split(pair["target"]))
        # a forward pass per training step in train mode; the validation score's in eval mode
        assert modes.count(True) == FIT.max_steps and modes[:FIT.max_steps] == [True] * FIT.max_steps
        modes.clear()
        backbone = source.transfer_net(10, pretrained=True, seed=0).backbone.train()
        extract_features(backbone, images, source.pipeline)
        assert modes and not any(modes)
    finally:
        source.build = build


def test_fine_tuning_gives_the_pretrained_backbone_its_own_rate():
    from torch import nn

    from mnistflow.transfer import TransferNet, fit

    def net():
        torch.manual_seed(0)
        return TransferNet(nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU()), nn.Linear(8, 3))

    x, y = torch.randn(64, 1, 4, 4), torch.arange(64) % 3
    for backbone_lr, backbone_moves in ((None, True), (1e-12, False)):
        model = net()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        fit(model, x, y, fit_recipe(lr=0.05, max_steps=6, batch_size=16, backbone_lr=backbone_lr), seed=0,
            validation=(x, y))
        moved = {k: (v - before[k]).abs().max().item() for k, v in model.state_dict().items()}
        assert moved["head.weight"] > 1e-3
        assert (moved["backbone.1.weight"] > 1e-3) is backbone_moves, (backbone_lr, moved)


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_mixed_precision_runs_the_training_and_scoring_forward_passes_in_bfloat16(mixed_precision):
    from torch import nn

    from mnistflow.transfer import TransferNet, fit

    torch.manual_seed(0)
    model = TransferNet(nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU()), nn.Linear(8, 3))
    seen = {"training": set(), "scoring": set()}
    model.backbone[1].register_forward_hook(
        lambda module, _, out: seen["training" if module.training else "scoring"].add(out.dtype))
    x, y = torch.randn(64, 1, 4, 4), torch.arange(64) % 3
    fit(model, x, y, fit_recipe(lr=0.05, max_steps=4, eval_every=2, batch_size=16, mixed_precision=mixed_precision),
        seed=0, validation=(x, y))
    expected = {torch.bfloat16 if mixed_precision else torch.float32}
    assert seen == {"training": expected, "scoring": expected}
    # weights, gradients and so updates stay float32
    assert {p.dtype for p in model.parameters()} | {p.grad.dtype for p in model.parameters()} == {torch.float32}


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_a_run_scores_validation_and_test_images_in_its_precision(pair, monkeypatch, mixed_precision):
    import mnistflow.transfer as transfer

    scored_under_autocast = []

    def spy(*args, **kwargs):
        scored_under_autocast.append(torch.is_autocast_enabled("cpu"))
        return original(*args, **kwargs)

    original = transfer.evaluate
    monkeypatch.setattr(transfer, "evaluate", spy)
    config = fit_recipe(lr=0.01, batch_size=32, max_steps=4, eval_every=2, mixed_precision=mixed_precision)
    results = run_strategy("finetune", pair["source"], pair["target"], [2], [0], config, SHARE, ONE_RATE,
                           log=lambda m: None)
    assert scored_under_autocast == [mixed_precision] * 3  # validation at steps 2 and 4, then the test set
    assert results.test_accuracy.between(0, 1).all()


def test_a_run_trains_until_validation_stops_improving_and_keeps_its_best_weights():
    from torch import nn

    from mnistflow.train import evaluate
    from mnistflow.transfer import fit

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=generator)
    y = (x[:, 0] > 0).long()  # separable in one step or two: validation accuracy soon stops rising
    val_x = torch.randn(128, 8, generator=generator)
    val = (val_x, (val_x[:, 0] > 0).long())
    torch.manual_seed(0)
    model = nn.Linear(8, 2)
    scores = []
    original_evaluate = evaluate

    def spy(*args, **kwargs):
        scores.append(original_evaluate(*args, **kwargs)[1])
        return 0.0, scores[-1]

    import mnistflow.transfer as transfer

    transfer.evaluate, saved = spy, transfer.evaluate
    try:
        fitted = fit(model, x, y, fit_recipe(lr=0.1, batch_size=32, max_steps=400, eval_every=4, patience=3), 0, val)
    finally:
        transfer.evaluate = saved
    assert fitted.stopped == "converged" and fitted.steps < 400 and fitted.steps == 4 * len(scores)
    best = max(scores)
    assert fitted.val_accuracy == best and fitted.best_step == 4 * (scores.index(best) + 1)
    assert scores[-3:] and all(score <= best for score in scores[-3:])  # three scores without a new best
    assert original_evaluate(model, *val)[1] == best  # the kept weights are the best-scoring ones

    capped = fit(nn.Linear(8, 2), x, y, fit_recipe(lr=1e-6, max_steps=8, eval_every=4, patience=3), 0, val)
    assert capped.stopped == "cap" and capped.steps == 8


def test_budgets_train_different_lengths_and_one_beyond_the_smallest_class_is_skipped_saying_so(pair):
    lines = []
    results = run_strategy("scratch", pair["source"], pair["target"], [2, 100000, None], [0],
                           fit_recipe(lr=0.01, batch_size=32, max_steps=200, eval_every=10, patience=2),
                           SHARE, ONE_RATE, log=lines.append)
    smallest = np.bincount(pair["target"].train_labels).min()
    assert lines[0] == (f"budget 100000 per class skipped: the smallest class has {smallest} training images "
                        "(budget full trains on every image)")
    assert results.budget.tolist() == ["2", "full"]
    # the bars are learnt in a few dozen batches: every budget stops there, not at a fixed count
    assert (results.stopped == "converged").all() and results.steps.between(20, 100).all()
    assert (results.best_step <= results.steps - 2 * 10).all() and results.val_accuracy.between(0, 1).all()


def test_channels_last_trains_the_network_in_that_layout_to_the_same_results(pair):
    import mnistflow.transfer as transfer

    layouts = []
    train_one = transfer.train_one

    def spy(*args, **kwargs):
        model, fitted = train_one(*args, **kwargs)
        # where the layouts differ: more than one input channel, kernels wider than a pixel
        convolutions = [m.weight for m in model.modules()
                        if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1 and m.kernel_size != (1, 1)]
        layouts.append({w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                        for w in convolutions})
        return model, fitted

    from mnistflow.models import build_model
    from mnistflow.transfer import Source

    # lenet keeps the default layout of its own (the best model is channels-last already)
    source = Source("lenet", lambda pretrained: build_model("lenet", 10), InputPipeline((0.5,), (0.25,)))
    results = {}
    for channels_last in (False, True):
        config = fit_recipe(lr=0.01, batch_size=32, max_steps=4, eval_every=2, channels_last=channels_last)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(transfer, "train_one", spy)
            results[channels_last] = run_strategy("finetune", source, pair["target"], [2], [0], config, SHARE,
                                                  ONE_RATE, log=lambda m: None)
    assert layouts == [{False}, {True}]
    assert all(len(r) == 1 and r.test_accuracy.between(0, 1).all() for r in results.values())
    # the layout changes no function: the same weights give the same outputs, to rounding (Adam's
    # first steps amplify rounding in near-zero gradients, so trained runs are not compared)
    model = source.transfer_net(10, pretrained=True, seed=0).eval()
    x = source.pipeline(torch.from_numpy(pair["target"].test_images[:50]))
    torch.testing.assert_close(model.to(memory_format=torch.channels_last)(x), copy.deepcopy(model).to(
        memory_format=torch.contiguous_format)(x), rtol=1e-5, atol=1e-5)


def test_convolutions_are_autotuned_on_a_gpu_only_and_the_setting_is_restored():
    from mnistflow.transfer import convolutions_autotuned

    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        with pytest.raises(RuntimeError, match="a failed run"):
            with convolutions_autotuned("cuda:0"):
                assert torch.backends.cudnn.benchmark is True
                raise RuntimeError("a failed run")
        assert torch.backends.cudnn.benchmark is False
        with convolutions_autotuned("cpu"):
            assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before
