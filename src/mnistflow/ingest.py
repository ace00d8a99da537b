"""A user's own labelled images as a ``Dataset``: a folder of class subfolders (the convention of
torchvision's ``ImageFolder``, Keras's ``image_dataset_from_directory`` and Hugging Face's
``imagefolder``) or an npz in the layout of Keras's ``mnist.npz``.

What every image turns into, in this order (README, "Your own images"):
1. the first frame (GIF, TIFF), turned upright by its EXIF orientation; a transparent background
   is laid over white;
2. grayscale by Pillow's luminance, L = (299 R + 587 G + 114 B) / 1000; 16-bit images are scaled
   by 255 / 65535;
3. 28 x 28: an image of that size is kept as it is; otherwise (``fit: pad``) its longer side is
   resized to 28 with the Lanczos filter, keeping the aspect ratio, and the shorter one padded
   evenly with the image's background (the median of its edge pixels), or (``fit: stretch``) it
   is resized to 28 x 28;
4. inverted (255 - value) when the dataset's background is light (``invert: auto``: the median
   over its images of their background is above 127; MNIST's is black), or always, or never.

A folder with ``train/`` and ``test/`` subfolders keeps that split; otherwise a stratified one
is drawn: in each class, the ``test_fraction`` of its files whose keys are smallest, a file's key
being the SHA-256 of the seed and its path in the folder. Each split's images are ordered by the
same key (a training run holds out the last images of its training split, which must not be one
class). A file's split and place depend only on its path and the seed, never on the file system's
order; the lists are recorded in ``dataset.npz``.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .datasets import DataError, Dataset, array_digest

SIZE = 28
SPLITS = ("train", "test")
# folder names that mean a split, never a class
SPLIT_FOLDER_NAMES = {"train", "training", "test", "testing", "val", "valid", "validation"}
FITS = ("pad", "stretch")
# above it, the images differ "wildly" in size: the largest has this many times the pixels of the smallest
SIZE_SPREAD_WARNING = 16

Log = Callable[[str], None]


@dataclass(frozen=True)
class Conversion:
    """How images become 28 x 28 grayscale (the module's docstring): ``fit`` one of ``FITS``,
    ``invert`` "auto", True or False."""

    fit: str
    invert: str | bool

    def __post_init__(self):
        if self.fit not in FITS:
            raise DataError(f"fit: {self.fit!r}; choose one of {', '.join(FITS)}")
        if self.invert not in ("auto", True, False):
            raise DataError(f"invert: {self.invert!r}; choose auto, true or false")


@dataclass(frozen=True)
class ImageFile:
    path: str  # in the dataset's folder, with / between parts
    label: int
    split: str


@dataclass(frozen=True)
class Ingested:
    """The dataset, what was done to make it, and a few originals beside their 28 x 28 versions."""

    dataset: Dataset
    files: dict[str, list[str]]  # split -> the source of each image, in the dataset's order
    content_digest: str
    inverted: bool
    split_drawn: bool  # False: the folder's own train/ and test/
    originals: list[np.ndarray]  # the first CONVERSION_SAMPLES training images, RGB as read

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``dataset.npz`` records beside the images: the files, the digest, the conversion,
        and the first training images as read (``THUMBNAIL`` px thumbnails) with their sizes."""
        return {"train_files": np.array(self.files["train"]), "test_files": np.array(self.files["test"]),
                "content_digest": np.array(self.content_digest), "inverted": np.array(self.inverted),
                "split_drawn": np.array(self.split_drawn),
                "original_images": np.stack([thumbnail(o) for o in self.originals]),
                "original_sizes": np.array([o.shape[:2] for o in self.originals])}


# the originals the conversion figure shows: the first training images, at this size (longest side)
CONVERSION_SAMPLES = 16
THUMBNAIL = 112


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(rgb)
    image.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    if max(image.size) < THUMBNAIL:  # a small image shown larger, its pixels visible
        scale = THUMBNAIL / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.NEAREST)
    out = Image.new("RGB", (THUMBNAIL, THUMBNAIL), (255, 255, 255))
    out.paste(image, ((THUMBNAIL - image.width) // 2, (THUMBNAIL - image.height) // 2))
    return np.asarray(out)


@dataclass(frozen=True)
class ConversionSamples:
    """The first training images as read (thumbnails), their sizes, and what they became."""

    originals: np.ndarray  # (k, THUMBNAIL, THUMBNAIL, 3)
    sizes: np.ndarray  # (k, 2): height, width as read
    converted: np.ndarray  # (k, 28, 28)
    inverted: bool

    @classmethod
    def load(cls, path: str | Path) -> "ConversionSamples":
        from . import atomic

        with atomic.load_npz(path) as npz:
            if "original_images" not in npz.files:
                raise DataError(f"{path}: no original images (a dataset read from IDX files converts nothing)")
            k = len(npz["original_images"])
            return cls(npz["original_images"], npz["original_sizes"], npz["train_images"][:k], bool(npz["inverted"]))


def training_count(entry: dict) -> int | None:
    """How many training images a folder or npz entry holds, read where the DAG is built (the
    listing, the labels); None where they cannot be read (the dataset's job says why)."""
    try:
        if entry["source"] == "folder":
            _, files, _ = list_folder(entry["path"], entry["test_fraction"], entry["seed"])
            return sum(f.split == "train" for f in files)
        return len(load_npz_arrays(Path(entry["path"]))[0]["y_train"])
    except (DataError, OSError, TypeError):
        return None


def read_custom(name: str, entry: dict, log: Log = print) -> Ingested:
    """The custom_datasets entry ``entry`` of source folder or npz."""
    conversion = Conversion(entry["fit"], entry["invert"])
    if entry["source"] == "folder":
        return read_folder(name, entry["path"], conversion, entry["test_fraction"], entry["seed"], log=log)
    return read_npz(name, entry["path"], conversion, log=log)


def source_digest(entry: dict) -> str:
    """What changes when the images of a folder or npz entry change (the folder's content digest,
    the digest of the npz's arrays), computed where the DAG is built so that a change reruns the
    dataset."""
    if entry["source"] == "folder":
        return folder_digest(entry["path"], entry["test_fraction"], entry["seed"])
    try:
        return npz_digest(entry["path"])
    except DataError as error:
        return f"unread: {error}"


def order_key(seed: int, path: str) -> str:
    return hashlib.sha256(f"{seed}/".encode() + os.fsencode(path)).hexdigest()


def stratified_split(paths_by_class: dict[int, list[str]], test_fraction: float, seed: int) -> set[str]:
    """The paths that go to the test split: in each class, round(test_fraction x its count) of
    them (at least one where the class has two or more), those with the smallest keys."""
    test = set()
    for paths in paths_by_class.values():
        count = round(test_fraction * len(paths))
        count = max(count, 1) if len(paths) >= 2 and test_fraction > 0 else count
        count = min(count, len(paths) - 1)  # a class keeps a training image
        test.update(sorted(paths, key=lambda p: order_key(seed, p))[:count])
    return test


def visible(entries) -> list[Path]:
    """Entries but hidden ones (.DS_Store, ._x.png, .ipynb_checkpoints): no one's data."""
    return sorted(e for e in entries if not e.name.startswith("."))


def class_folders(folder: Path) -> dict[str, list[Path]]:
    """Class name -> its files (any depth below the class folder), each class folder checked."""
    classes = {}
    for entry in visible(folder.iterdir()):
        if not entry.is_dir():
            raise DataError(f"{entry}: a file beside the class folders of {folder}; every image goes into "
                            f"its class's folder ({folder}/<class>/<image>)")
        files = [p for p in visible(entry.rglob("*")) if p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(entry).parts)]
        if not files:
            raise DataError(f"{entry}: an empty class folder (no image in it); remove it or add its images")
        classes[entry.name] = files
    return classes


def list_folder(path: str | Path, test_fraction: float, seed: int) -> tuple[tuple[str, ...], list[ImageFile], bool]:
    """The classes (folder names, sorted), every image file with its label and split, and whether
    the split was drawn (no train/ and test/ folders)."""
    folder = Path(path)
    if not folder.exists():
        raise DataError(f"{folder}: no such folder (custom_datasets path)")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (custom_datasets path; a folder of class subfolders, or "
                        f"source: npz for an npz file)")
    names = {e.name for e in visible(folder.iterdir())}
    split_given = set(SPLITS) <= names
    split_like = sorted(n for n in names if n.lower() in SPLIT_FOLDER_NAMES)
    if not split_given and split_like:
        raise DataError(f"{folder}: holds {', '.join(f'{n}/' for n in split_like)} but not "
                        f"both train/ and test/; a split given is train/<class>/ and test/<class>/ (the workflow "
                        f"holds its validation images out of train/): rename or merge the folders")
    if split_given:
        if names - set(SPLITS):
            raise DataError(f"{folder}: beside train/ and test/ it holds {', '.join(sorted(names - set(SPLITS)))}; "
                            f"with a split given, every class folder goes under train/ and test/")
        by_split = {split: class_folders(folder / split) for split in SPLITS}
        if set(by_split["train"]) != set(by_split["test"]):
            only = {s: sorted(set(by_split[s]) - set(by_split[o])) for s, o in (("train", "test"), ("test", "train"))}
            raise DataError(f"{folder}: train/ and test/ hold different classes: "
                            + "; ".join(f"only in {s}/: {', '.join(c)}" for s, c in only.items() if c))
        classes = tuple(sorted(by_split["train"]))
    else:
        by_class = class_folders(folder)
        classes = tuple(sorted(by_class))
    if not classes:
        raise DataError(f"{folder}: no class folders and no images in it")
    if len(classes) == 1:
        raise DataError(f"{folder}: a single class ({classes[0]}); classifying needs at least two class folders")
    files = []
    if split_given:
        for split in SPLITS:
            for label, name in enumerate(classes):
                files += [ImageFile(p.relative_to(folder).as_posix(), label, split) for p in by_split[split][name]]
    else:
        paths = {label: [p.relative_to(folder).as_posix() for p in by_class[name]] for label, name in enumerate(classes)}
        test = stratified_split(paths, test_fraction, seed)
        files = [ImageFile(p, label, "test" if p in test else "train") for label, ps in paths.items() for p in ps]
    files.sort(key=lambda f: order_key(seed, f.path))
    return classes, files, not split_given


def add_to_digest(digest, f: ImageFile, data: bytes) -> None:
    digest.update(os.fsencode(f.path) + f"\0{f.split}\0{len(data)}\0".encode())
    digest.update(data)


def content_digest(folder: str | Path, files: list[ImageFile]) -> str:
    """SHA-256 of every file's path (its class folder, so its label), split and bytes: what
    changes when a file is added, removed, moved to another class or edited, and only then."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        add_to_digest(digest, f, (Path(folder) / f.path).read_bytes())
    return digest.hexdigest()


def folder_digest(path: str | Path, test_fraction: float, seed: int) -> str:
    """The digest of a folder dataset as its listing finds it; a listing's error is the digest's
    text, so that the DAG still builds and the dataset's job reports the error."""
    try:
        _, files, _ = list_folder(path, test_fraction, seed)
        return content_digest(path, files)
    except (DataError, OSError) as error:
        return f"unlisted: {error}"


# --- one image to 28 x 28 ------------------------------------------------------------------


def over_white(image):
    """A Pillow image with its transparency (an alpha channel, or a transparent colour) laid over
    white, in RGB or L; 16-bit and 32-bit grayscale scaled to 8 bits (by 255 / 65535, floats
    in [0, 1] by 255). Any other image as it is."""
    from PIL import Image

    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit always; a 32-bit integer image (mode I) by its range: Pillow also reads some
        # 8-bit files as I
        scale = 1 if image.mode == "I" and values.max(initial=0) <= 255 else 255 / 65535
        return Image.fromarray(np.clip(np.round(values * scale), 0, 255).astype(np.uint8))
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255 if values.max(initial=0) <= 1 else 1
        return Image.fromarray(np.clip(np.round(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8))
    if "A" in image.getbands() or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image


def grayscale(image) -> np.ndarray:
    """A Pillow image as uint8 luminance (step 2 of the module's docstring)."""
    return np.asarray(over_white(image).convert("L"), dtype=np.uint8)


def shown_rgb(image) -> np.ndarray:
    """An original as the conversion figure shows it: in colour, with its transparency over white."""
    return np.asarray(over_white(image).convert("RGB"))


def background(pixels: np.ndarray) -> int:
    """The median of an image's edge pixels."""
    edges = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return int(np.median(edges))


def to_size(pixels: np.ndarray, fit: str) -> np.ndarray:
    """Step 3 of the module's docstring."""
    from PIL import Image

    h, w = pixels.shape
    if (h, w) == (SIZE, SIZE):
        return pixels
    image = Image.fromarray(pixels)
    if fit == "stretch":
        return np.asarray(image.resize((SIZE, SIZE), Image.Resampling.LANCZOS))
    scale = SIZE / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(image.resize((new_w, new_h), Image.Resampling.LANCZOS))
    out = np.full((SIZE, SIZE), background(pixels), dtype=np.uint8)
    top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    out[top:top + new_h, left:left + new_w] = resized
    return out


def read_image(path: Path, data: bytes):
    """The image in ``data`` (the bytes of ``path``), decoded whole (a truncated file fails here)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return ImageOps.exif_transpose(image)  # a camera's or scanner's orientation tag applied
    except Image.DecompressionBombError as error:
        raise DataError(f"{path}: {error}") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow reads (PNG, JPEG, BMP, GIF, TIFF, ...); remove it from "
                        f"the folder") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: unreadable image ({error}); the file may be truncated: replace or remove "
                        f"it") from None


def decide_inversion(backgrounds: np.ndarray, invert: str | bool) -> bool:
    if invert == "auto":
        return bool(np.median(backgrounds) > 127)
    return bool(invert)


# --- the two sources -----------------------------------------------------------------------


def read_folder(name: str, path: str | Path, conversion: Conversion, test_fraction: float, seed: int,
                log: Log = print) -> Ingested:
    """The folder dataset ``name`` at ``path`` (the module's docstring)."""
    folder = Path(path)
    classes, files, drawn = list_folder(folder, test_fraction, seed)
    log(f"{folder}: {len(files):,} images in {len(classes)} classes, "
        + ("a stratified test split drawn" if drawn else "split by its train/ and test/ folders"))
    shown = [f.path for f in files if f.split == "train"][:CONVERSION_SAMPLES]  # the first, in order
    digest, by_bytes, read, kept = hashlib.sha256(), {}, {}, {}
    for f in sorted(files, key=lambda f: f.path):  # the digest's order, content_digest's
        data = (folder / f.path).read_bytes()
        add_to_digest(digest, f, data)
        by_bytes.setdefault(hashlib.sha256(data).digest(), []).append(f)
        image = read_image(folder / f.path, data)
        pixels = grayscale(image)  # kept as 28 x 28 at once: the originals may be large
        read[f.path] = (pixels.shape, background(pixels), to_size(pixels, conversion.fit))
        if f.path in shown:
            kept[f.path] = shown_rgb(image)
    sizes, backgrounds, converted = zip(*(read[f.path] for f in files))
    originals = [kept[path] for path in shown]
    warn_sizes(list(sizes), files, log)
    warn_duplicates(by_bytes.values(), log)
    return finish(name, classes, files, list(converted), np.array(backgrounds), conversion, digest.hexdigest(), drawn,
                  originals, log)


NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz_arrays(path: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...] | None]:
    """The four arrays of a Keras-layout npz and its class names (None without), or DataError
    naming the file and what is wrong."""
    import zipfile
    import zlib

    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{path}: not a readable npz file ({error})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single array (.npy), not an npz of {', '.join(NPZ_ARRAYS)}")
    with npz:
        missing = [k for k in NPZ_ARRAYS if k not in npz.files]
        if missing:
            raise DataError(f"{path}: no {', '.join(missing)} (it holds {', '.join(npz.files) or 'nothing'}); "
                            f"the npz source reads Keras's mnist.npz layout: {', '.join(NPZ_ARRAYS)}")
        try:
            arrays = {k: npz[k] for k in NPZ_ARRAYS}
            names = tuple(str(c) for c in npz["class_names"]) if "class_names" in npz.files else None
        except (ValueError, OSError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            # an object array (a pickle), a 0-d class_names, a damaged or truncated member
            raise DataError(f"{path}: unreadable arrays ({error}); save numbers and strings, not objects") from None
    return arrays, names


def npz_images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """An npz's images as uint8: uint8 as they are, uint16 scaled by 255 / 65535, other integers
    and floats in [0, 255] as they are (floats rounded), floats in [0, 1] (none above 1) times 255."""
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.uint16:
        return np.round(x * (255 / 65535)).astype(np.uint8)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{path}: {key} is {x.dtype}; images are integers or floats")
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{path}: {key} holds NaN or infinite values")
        x = x * 255 if x.max(initial=0) <= 1 else x
    if x.size and (x.min() < 0 or x.max() > 255):
        raise DataError(f"{path}: {key} holds values from {x.min()} to {x.max()}; images are 0 .. 255 (or floats "
                        f"in [0, 1], or uint16)")
    return np.round(x).astype(np.uint8)


def read_npz(name: str, path: str | Path, conversion: Conversion, log: Log = print) -> Ingested:
    """An npz of ``x_train, y_train, x_test, y_test`` (Keras's ``mnist.npz``), images of shape
    (n, h, w), (n, h, w, 1) or (n, h, w, 3) as ``npz_images`` reads them, with optional
    ``class_names``."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (custom_datasets path, source: npz)")
    arrays, names = load_npz_arrays(path)
    labels = {}
    for split in SPLITS:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
            raise DataError(f"{path}: x_{split} has shape {x.shape}; expected (n, h, w), (n, h, w, 1) or (n, h, w, 3)")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{path}: x_{split} holds {len(x)} images but y_{split} has shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: y_{split} is {y.dtype}; labels are integers 0 .. classes - 1")
        if len(y) == 0:
            raise DataError(f"{path}: x_{split} holds no image")
        labels[split] = y.astype(np.int64)
    count = len(names) if names is not None else int(max(labels["train"].max(), labels["test"].max())) + 1
    for split in SPLITS:
        bad = labels[split][(labels[split] < 0) | (labels[split] >= count)]
        if len(bad):
            raise DataError(f"{path}: y_{split} holds {bad[0]}, out of range for {count} classes"
                            + (f" (class_names has {count})" if names is not None else ""))
    if count < 2:
        raise DataError(f"{path}: a single class; classifying needs at least two")
    absent = np.flatnonzero(np.bincount(labels["train"], minlength=count) == 0)
    if len(absent):
        raise DataError(f"{path}: class {absent[0]} has no training image (y_train); every class needs one")
    classes = names or tuple(str(i) for i in range(count))
    files, converted, backgrounds, sizes, originals = [], [], [], [], []
    for split in SPLITS:
        x = npz_images(arrays[f"x_{split}"], path, f"x_{split}")
        for i, (image, label) in enumerate(zip(x, labels[split])):
            files.append(ImageFile(f"{split}[{i}]", int(label), split))
            pil = Image.fromarray(image if image.ndim == 2 or image.shape[-1] == 3 else image[..., 0])
            pixels = image if image.shape == (SIZE, SIZE) else grayscale(pil)
            sizes.append(pixels.shape)
            backgrounds.append(background(pixels))
            converted.append(to_size(pixels, conversion.fit))
            if split == "train" and len(originals) < CONVERSION_SAMPLES:
                originals.append(shown_rgb(pil))
    by_bytes: dict[bytes, list[ImageFile]] = {}
    for f, image in zip(files, converted):
        by_bytes.setdefault(hashlib.sha256(image.tobytes()).digest(), []).append(f)
    warn_duplicates(by_bytes.values(), log)
    warn_sizes(sizes, files, log)
    return finish(name, classes, files, converted, np.array(backgrounds), conversion, arrays_digest(arrays, names),
                  False, originals, log)


def arrays_digest(arrays: dict[str, np.ndarray], names: tuple[str, ...] | None) -> str:
    """SHA-256 of an npz's arrays (not of the file: saving the same arrays again changes nothing)."""
    return array_digest(*(arrays[k] for k in NPZ_ARRAYS), np.array(names if names is not None else []))


def npz_digest(path: str | Path) -> str:
    return arrays_digest(*load_npz_arrays(Path(path)))


def finish(name, classes, files, converted, backgrounds, conversion, digest, drawn, originals, log) -> Ingested:
    inverted = decide_inversion(backgrounds, conversion.invert)
    log(f"background: median {int(np.median(backgrounds))} of 255 over the images; "
        + ("inverted (255 - value), so that it is dark as MNIST's" if inverted else "kept as it is")
        + f" (invert: {conversion.invert})")
    images = np.stack(converted)  # both sources refuse a set without images
    if inverted:
        images = 255 - images
    split_of = np.array([f.split for f in files])
    labels = np.array([f.label for f in files], dtype=np.int64)
    train, test = split_of == "train", split_of == "test"
    dataset = Dataset(name, tuple(classes), images[train], labels[train], images[test], labels[test])
    counts = np.bincount(dataset.train_labels, minlength=len(classes))
    log(f"train {len(dataset.train_labels):,} images, test {len(dataset.test_labels):,}; the smallest class in "
        f"train: {classes[int(counts.argmin())]} with {int(counts.min())}")
    return Ingested(dataset, {s: [f.path for f in files if f.split == s] for s in SPLITS}, digest, inverted,
                    drawn, originals)


def warn_sizes(sizes: list[tuple[int, int]], files: list[ImageFile], log: Log) -> None:
    areas = np.array([h * w for h, w in sizes])
    if len(areas) and areas.max() > SIZE_SPREAD_WARNING * areas.min():
        small, large = int(areas.argmin()), int(areas.argmax())
        log(f"warning: image sizes differ widely, from {sizes[small][1]} x {sizes[small][0]} ({files[small].path}) "
            f"to {sizes[large][1]} x {sizes[large][0]} ({files[large].path}); all become {SIZE} x {SIZE}")


def warn_duplicates(identical: Iterable[list[ImageFile]], log: Log, shown: int = 20) -> None:
    """Of ``identical``, groups of images with the same bytes, those in both train and test: test
    images the model has trained on."""
    groups = [group for group in identical if len({f.split for f in group}) > 1]
    if not groups:
        return
    leaked = sum(f.split == "test" for group in groups for f in group)
    log(f"warning: {leaked} test image{'s are' if leaked > 1 else ' is'} identical to training images (the same "
        f"bytes); the test accuracy counts {'them' if leaked > 1 else 'it'} as unseen:")
    for group in groups[:shown]:
        log("  " + " = ".join(f.path for f in sorted(group, key=lambda f: (f.split != "test", f.path))))
    if len(groups) > shown:
        log(f"  ... and {len(groups) - shown} more")
