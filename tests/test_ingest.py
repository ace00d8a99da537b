"""Your own images: a class folder or a Keras-layout npz read into a dataset (mnistflow.ingest)."""

import copy
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from tiny_workflow import write_digits_folder

from mnistflow.datasets import DataError, read_raw
from mnistflow.ingest import (Conversion, ConversionSamples, grayscale, list_folder, read_custom, read_folder,
                              read_image, read_npz, source_digest, to_size)

PAD = Conversion("pad", "auto")


def folder_entry(path, **overrides):
    return {"source": "folder", "path": str(path), "test_fraction": 0.2, "seed": 0, "fit": "pad", "invert": "auto",
            **overrides}


def write_split_folder(root, images, labels, split, names=None):
    """Each image as <root>/<split>/<label>/<index>.png."""
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / split / str(names[label] if names else label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")


def in_file_order(ingested, split):
    """The split's images and labels put back in the order of the index in their file names."""
    order = np.argsort([int(re.search(r"(\d+)\.png$", f).group(1)) for f in ingested.files[split]])
    images, labels = ingested.dataset.split(split)
    return images[order], labels[order]


def test_a_folder_of_28_by_28_pngs_reads_back_as_exactly_the_idx_arrays(tiny, tmp_path):
    data = read_raw(tiny["spec"], tiny["dir"])
    for split in ("train", "test"):
        write_split_folder(tmp_path / "png", *data.split(split), split)
    ingested = read_folder("tiny", tmp_path / "png", PAD, 0.2, 0, log=lambda s: None)
    assert ingested.dataset.classes == tuple(str(c) for c in range(10)) and not ingested.split_drawn
    assert not ingested.inverted  # a dark background, as MNIST's
    for split in ("train", "test"):
        images, labels = in_file_order(ingested, split)
        np.testing.assert_array_equal(images, data.split(split)[0])
        np.testing.assert_array_equal(labels, data.split(split)[1])


def test_a_folder_without_a_split_gets_a_stratified_one_that_files_added_later_barely_move(tmp_path):
    from sklearn.datasets import load_digits

    write_digits_folder(tmp_path / "digits")
    digits = load_digits()
    lines = []
    ingested = read_custom("digits", folder_entry(tmp_path / "digits"), log=lines.append)
    counts = np.bincount(digits.target)
    assert np.bincount(ingested.dataset.test_labels).tolist() == [round(0.2 * n) for n in counts]
    assert len(ingested.dataset.train_labels) + len(ingested.dataset.test_labels) == 1797
    assert ingested.split_drawn and ingested.dataset.train_images.shape[1:] == (28, 28)
    assert lines[0] == f"{tmp_path / 'digits'}: 1,797 images in 10 classes, a stratified test split drawn"
    # the order mixes the classes: a run holds out the last training images
    assert len(set(ingested.dataset.train_labels[-100:])) == 10
    # the same listing whatever the file system's order, and a file's split is its own: a new
    # file moves at most one other
    _, files, _ = list_folder(tmp_path / "digits", 0.2, 0)
    before = {f.path: f.split for f in files}
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "digits/3/extra.png")
    _, files, _ = list_folder(tmp_path / "digits", 0.2, 0)
    moved = [f.path for f in files if f.path in before and before[f.path] != f.split]
    assert len(moved) <= 1 and all(m.startswith("3/") for m in moved)
    assert {f.path: f.split for f in list_folder(tmp_path / "digits", 0.2, 1)[1]} != before  # another seed


def test_what_an_image_turns_into_is_what_the_readme_says(tmp_path):
    # luminance by Pillow's L = (299 R + 587 G + 114 B) / 1000
    assert [int(grayscale(Image.new("RGB", (1, 1), c))[0, 0]) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))] == \
        [76, 150, 29]
    # a 28 x 14 drawing, black ink on white: kept at width 28, padded with its white background,
    # then inverted with the dataset (its background is light)
    ink = np.full((14, 28), 255, np.uint8)
    ink[4:10, 3:20] = 0
    root = tmp_path / "drawings"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        Image.fromarray(np.stack([ink] * 3, -1)).save(root / label / "x.png")
        Image.fromarray(np.stack([ink] * 3, -1)).save(root / label / "y.png")
    lines = []
    ingested = read_custom("drawings", folder_entry(root), log=lines.append)
    expected = np.full((28, 28), 255, np.uint8)
    expected[7:21] = ink
    np.testing.assert_array_equal(ingested.dataset.train_images[0], 255 - expected)
    assert ingested.inverted and any(line.startswith("background: median 255 of 255 over the images; inverted")
                                     for line in lines)
    kept = read_custom("drawings", folder_entry(root, invert=False), log=lambda s: None)
    np.testing.assert_array_equal(kept.dataset.train_images[0], expected)
    # stretch fills 28 x 28; a larger image is resized with the Lanczos filter
    assert to_size(np.zeros((10, 40), np.uint8), "stretch").shape == (28, 28)
    big = np.zeros((56, 56), np.uint8)
    np.testing.assert_array_equal(to_size(big, "pad"),
                                  np.asarray(Image.fromarray(big).resize((28, 28), Image.Resampling.LANCZOS)))


def test_transparency_16_bit_and_gif_frames_are_read_as_documented(tmp_path):
    rgba = np.zeros((28, 28, 4), np.uint8)  # transparent everywhere but an opaque black stroke
    rgba[10:14, 5:20] = (0, 0, 0, 255)
    pixels = grayscale(Image.fromarray(rgba, "RGBA"))
    assert pixels[0, 0] == 255 and pixels[11, 10] == 0  # laid over white
    deep = Image.fromarray(np.full((28, 28), 65535, np.uint16))
    deep.save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert grayscale(image).max() == 255
    # a photo taken sideways: its EXIF orientation (6: turn 90 degrees clockwise) is applied
    sideways = Image.fromarray(np.zeros((10, 30), np.uint8))
    exif = sideways.getexif()
    exif[0x0112] = 6
    sideways.save(tmp_path / "sideways.jpg", exif=exif)
    assert read_image(tmp_path / "sideways.jpg", (tmp_path / "sideways.jpg").read_bytes()).size == (10, 30)
    frames = [Image.fromarray(np.full((28, 28), v, np.uint8)) for v in (40, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with Image.open(tmp_path / "anim.gif") as image:
        assert int(grayscale(image)[0, 0]) == 40  # the first frame


def test_the_digest_changes_when_a_file_is_added_moved_edited_or_removed_and_only_then(tmp_path):
    root = tmp_path / "d"
    for label in ("a", "b"):
        for i in range(3):
            (root / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((28, 28), 10 * i, np.uint8)).save(root / label / f"{i}.png")
    entry = folder_entry(root)
    first = source_digest(entry)
    os.utime(root / "a/0.png", (0, 0))  # touched, not changed
    assert source_digest(entry) == first
    digests = {first}
    shutil.move(root / "a/0.png", root / "b/9.png")  # relabelled by moving it
    digests.add(source_digest(entry))
    Image.fromarray(np.full((28, 28), 99, np.uint8)).save(root / "b/9.png")  # edited
    digests.add(source_digest(entry))
    Image.fromarray(np.full((28, 28), 7, np.uint8)).save(root / "a/new.png")  # added
    digests.add(source_digest(entry))
    (root / "b/9.png").unlink()  # removed
    digests.add(source_digest(entry))
    assert len(digests) == 5
    assert read_custom("d", entry, log=lambda s: None).content_digest == source_digest(entry)


def make_classes(root, counts, size=(28, 28)):
    """``counts[label]`` images in each class folder, each a noisy image of its own (the i-th of
    every class folder under ``root`` the same in train/ and test/)."""
    for c, (label, n) in enumerate(counts.items()):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.random.default_rng([c, i]).integers(0, 60, size[::-1], dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")


@pytest.mark.parametrize("case, message", [
    ("missing", r"{root}: no such folder \(custom_datasets path\)"),
    ("empty", r"{root}: no class folders and no images in it"),
    ("one class", r"{root}: a single class \(a\); classifying needs at least two class folders"),
    ("empty class", r"{root}/b: an empty class folder \(no image in it\); remove it or add its images"),
    ("different classes", r"{root}: train/ and test/ hold different classes: only in train/: c"),
    ("not an image", r"{root}/a/notes.txt: not an image Pillow reads"),
    ("truncated", r"{root}/a/0.png: unreadable image \(.*\); the file may be truncated"),
    ("loose file", r"{root}/x.png: a file beside the class folders of {root}"),
    ("train and val", r"{root}: holds train/, val/ but not both train/ and test/"),
    ("Training and Testing", r"{root}: holds Testing/, Training/ but not both train/ and test/"),
])
def test_bad_folders_are_refused_naming_the_file(tmp_path, case, message):
    root = tmp_path / "imgs"
    if case != "missing":
        root.mkdir()
    if case == "one class":
        make_classes(root, {"a": 3})
    if case == "empty class":
        make_classes(root, {"a": 3})
        (root / "b").mkdir()
    if case == "different classes":
        make_classes(root / "train", {"a": 3, "b": 3, "c": 3})
        make_classes(root / "test", {"a": 3, "b": 3})
    if case in ("not an image", "truncated", "loose file"):
        make_classes(root, {"a": 3, "b": 3})
    if case == "train and val":
        make_classes(root / "train", {"a": 3, "b": 3})
        make_classes(root / "val", {"a": 3, "b": 3})
    if case == "Training and Testing":  # mnist_png's layout
        make_classes(root / "Training", {"a": 3, "b": 3})
        make_classes(root / "Testing", {"a": 3, "b": 3})
    if case == "not an image":
        (root / "a/notes.txt").write_text("hello")
    if case == "truncated":
        (root / "a/0.png").write_bytes((root / "a/0.png").read_bytes()[:400])  # of about 850
    if case == "loose file":
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(root / "x.png")
    with pytest.raises(DataError, match=message.format(root=re.escape(str(root)))):
        read_custom("imgs", folder_entry(root), log=lambda s: None)


def test_hidden_files_are_skipped_and_widely_different_sizes_and_leaks_are_warned(tmp_path):
    root = tmp_path / "imgs"
    make_classes(root / "train", {"a": 2, "b": 2})
    make_classes(root / "test", {"a": 1, "b": 1})
    (root / "train/a/.DS_Store").write_bytes(b"\0\1")
    Image.fromarray(np.zeros((200, 300), np.uint8)).save(root / "train/b/big.png")
    lines = []
    ingested = read_custom("imgs", folder_entry(root), log=lines.append)
    assert len(ingested.dataset.train_labels) == 5
    assert "warning: image sizes differ widely, from 28 x 28 (" in "\n".join(lines)
    assert "to 300 x 200 (train/b/big.png); all become 28 x 28" in "\n".join(lines)
    # test/a/0.png has the bytes of train/a/0.png, test/b/0.png those of train/b/0.png: leaks, named
    assert "warning: 2 test images are identical to training images (the same bytes); the test accuracy counts " \
           "them as unseen:" in lines
    assert "  test/a/0.png = train/a/0.png" in lines and "  test/b/0.png = train/b/0.png" in lines


def test_the_npz_source_reads_keras_mnist_layout(tiny, tmp_path):
    data = read_raw(tiny["spec"], tiny["dir"])
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=data.train_images, y_train=data.train_labels.astype(np.uint8), x_test=data.test_images,
             y_test=data.test_labels)
    entry = {"source": "npz", "path": str(path), "fit": "pad", "invert": "auto"}
    ingested = read_custom("keras", entry, log=lambda s: None)
    np.testing.assert_array_equal(ingested.dataset.train_images, data.train_images)
    np.testing.assert_array_equal(ingested.dataset.test_labels, data.test_labels)
    assert ingested.dataset.classes == tuple(str(i) for i in range(10))
    assert ingested.files["test"][:2] == ["test[0]", "test[1]"]
    # floats in [0, 1], a channel axis, class names
    np.savez(path, x_train=data.train_images[..., None] / 255.0, y_train=data.train_labels,
             x_test=data.test_images[..., None] / 255.0, y_test=data.test_labels, class_names=np.array(list("abcdefghij")))
    ingested = read_npz("keras", path, PAD, log=lambda s: None)
    np.testing.assert_array_equal(ingested.dataset.train_images, data.train_images)
    assert ingested.dataset.classes == tuple("abcdefghij")


def test_a_16_bit_npz_is_scaled_and_a_single_array_file_is_named(tmp_path):
    path = tmp_path / "deep.npz"
    np.savez(path, x_train=np.full((2, 28, 28), 65535, np.uint16), y_train=np.array([0, 1]),
             x_test=np.zeros((1, 28, 28), np.uint16), y_test=np.array([0]))
    assert read_npz("deep", path, Conversion("pad", False), log=lambda s: None).dataset.train_images.max() == 255
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:300])  # a copy cut short
    with pytest.raises(DataError, match=r"cut.npz: not a readable npz file"):
        read_npz("cut", tmp_path / "cut.npz", PAD, log=lambda s: None)
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"one.npy: a single array \(.npy\), not an npz"):
        read_npz("one", tmp_path / "one.npy", PAD, log=lambda s: None)


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.arange(4)}, r"no x_test, y_test \(it holds x_train, y_train\)"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.array([0, 1, 2, 3]), "x_test": np.zeros((1, 28, 28)),
      "y_test": np.array([0]), "class_names": np.array(["a", "b"])}, r"y_train holds 2, out of range for 2 classes"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.array([0, 1, 1]), "x_test": np.zeros((1, 28, 28)),
      "y_test": np.array([0])}, r"x_train holds 4 images but y_train has shape \(3,\)"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.array([0, -1, 1, 0]), "x_test": np.zeros((1, 28, 28)),
      "y_test": np.array([0])}, r"y_train holds -1, out of range for 2 classes"),
    ({"x_train": np.full((2, 28, 28), 300), "y_train": np.array([0, 1]), "x_test": np.zeros((1, 28, 28)),
      "y_test": np.array([0])}, r"x_train holds values from 300 to 300; images are 0 .. 255"),
    ({"x_train": np.full((2, 28, 28), np.nan), "y_train": np.array([0, 1]), "x_test": np.zeros((1, 28, 28)),
      "y_test": np.array([0])}, r"x_train holds NaN or infinite values"),
    ({"x_train": np.zeros((2, 28, 28)), "y_train": np.array([0, 1]), "x_test": np.zeros((0, 28, 28)),
      "y_test": np.array([], np.int64)}, r"x_test holds no image"),
    ({"x_train": np.zeros((2, 28, 28)), "y_train": np.array([0, 2]), "x_test": np.zeros((1, 28, 28)),
      "y_test": np.array([1])}, r"class 1 has no training image \(y_train\)"),
])
def test_bad_npz_files_are_refused_naming_the_array(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + message):
        read_npz("bad", path, PAD, log=lambda s: None)


def test_the_conversion_samples_are_recorded_beside_the_dataset(tmp_path):
    from mnistflow.datasets import load_dataset, save_dataset

    make_classes(tmp_path / "imgs", {"a": 3, "b": 3}, size=(40, 20))
    ingested = read_custom("imgs", folder_entry(tmp_path / "imgs"), log=lambda s: None)
    save_dataset(tmp_path / "dataset.npz", ingested.dataset, **ingested.arrays())
    samples = ConversionSamples.load(tmp_path / "dataset.npz")
    assert samples.sizes.tolist() == [[20, 40]] * len(samples.sizes) and samples.originals.shape[1:] == (112, 112, 3)
    np.testing.assert_array_equal(samples.converted, load_dataset(tmp_path / "dataset.npz").train_images[:len(samples.sizes)])


def test_a_validation_split_larger_than_a_folder_stops_the_workflow_before_any_job_naming_the_key(tmp_path):
    from conftest import resolved_config

    from mnistflow.config import ConfigError, check_config

    make_classes(tmp_path / "imgs", {"a": 30, "b": 20})
    config = resolved_config()
    config["datasets"] = ["mine"]
    config["custom_datasets"] = {"mine": folder_entry(tmp_path / "imgs")}
    with pytest.raises(ConfigError, match=r"^train.defaults.validation: 5,000 held out leaves none of the 40 training "
                                          r"images of mine to train on; set it lower, e.g. 4 \(a tenth\)$"):
        check_config(config)
    config["train"]["defaults"]["validation"] = 4
    with pytest.raises(ConfigError, match=r"^optimizers.validation: 1,000 held out leaves none of the 40 "):
        check_config(config)
    config["optimizers"]["validation"] = 4
    check_config(config)
    # a folder that is only a transfer source trains train.best_run alone: the optimizer study's
    # split does not apply to it
    config["datasets"] = ["mnist"]
    config["optimizers"]["validation"] = 1000
    config["transfer"]["pairs"] = [{"source": "mine", "target": "mnist"}]
    check_config(config)
    config["train"]["defaults"]["validation"] = 5000
    with pytest.raises(ConfigError, match=r"^train.defaults.validation: 5,000 held out leaves none of the 40 "):
        check_config(config)


def test_the_schema_tells_the_sources_apart_and_an_idx_entry_keeps_the_params_it_had(tiny, tmp_path):
    import yaml

    from conftest import REPO

    from mnistflow.config import ConfigError, validate_config
    from mnistflow.settings import custom_dataset

    def validated(entry):
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        config["custom_datasets"] = {"mine": copy.deepcopy(entry)}
        return validate_config(config, REPO / "workflow/schemas/config.schema.yaml")

    with pytest.raises(ConfigError, match="custom_datasets.mine: classes, sha256 and torchvision belong to source idx"):
        validated({"source": "folder", "path": str(tmp_path), "classes": ["a", "b"]})
    with pytest.raises(ConfigError, match="custom_datasets.mine: path belongs to source folder or npz"):
        validated({**tiny["entry"], "path": str(tmp_path)})
    with pytest.raises(ConfigError, match="custom_datasets.mine: 'path' is a required property"):
        validated({"source": "npz"})
    filled = validated({"source": "folder", "path": str(tmp_path)})["custom_datasets"]["mine"]
    assert filled == {"source": "folder", "path": str(tmp_path), "test_fraction": 0.2, "seed": 0, "fit": "pad",
                      "invert": "auto"}
    # an IDX entry's jobs see the keys they read, as before the other sources came: nothing reruns
    assert custom_dataset(validated(tiny["entry"]), "mine") == {"mine": tiny["entry"]}
