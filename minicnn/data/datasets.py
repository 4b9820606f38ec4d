"""Load Fashion-MNIST or MNIST as arrays, saying where they came from.

    >>> train = load_dataset("fashion-mnist", "train")
    minicnn: fashion-mnist/train: 60000 images from the Debian package ...
    >>> train.images.shape, train.labels.shape, train.classes[9]
    ((60000, 28, 28), (60000,), 'Ankle boot')

The places searched, in order, are listed in ``minicnn.data.sources``.
"""

import dataclasses
import sys

import numpy

from . import sources
from .idx import DataError, load_idx

FETCH_HELP = (
    "To get {name}: run `minicnn data --fetch {name}` (or, in Python, "
    "`minicnn.data.fetch('{name}')`), which downloads it into {cache}; or put "
    "the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in $MINICNN_DATA/{name}/ "
    "or any directory you pass as path=."
)


@dataclasses.dataclass
class Dataset:
    """One split of a dataset.

    images:  (N, 28, 28) uint8, 0 = background
    labels:  (N,) int64, class indices 0..9
    classes: the 10 class names, ``classes[labels[i]]`` names image i
    source:  where the files were read from, in words
    """

    images: numpy.ndarray = dataclasses.field(repr=False)
    labels: numpy.ndarray = dataclasses.field(repr=False)
    classes: list
    source: str
    name: str
    split: str

    def __len__(self):
        return len(self.labels)


def check_images(images, path):
    """Refuse anything but ``(N, 28, 28)`` uint8 images, saying what was found."""
    if images.ndim != 3:
        hint = " (is it a labels file?)" if images.ndim == 1 else ""
        raise DataError(f"{path}: expected images of shape (N, rows, cols), found shape "
                        f"{images.shape}{hint}")
    if images.dtype != numpy.uint8:
        raise DataError(f"{path}: images are {images.dtype}; MNIST-style images are uint8 "
                        "(IDX type 0x08), pixel values 0..255, which to_float scales to [0, 1]")
    if images.shape[1:] != sources.IMAGE_SHAPE:
        rows, cols = sources.IMAGE_SHAPE
        raise DataError(f"{path}: images are {images.shape[1]}x{images.shape[2]}; this "
                        f"dataset's images are {rows}x{cols}, the size its models are built for")


def check_labels(labels, path, count, images_path, classes):
    """Refuse labels that are not ``(count,)`` whole numbers in ``0..len(classes)-1``."""
    if labels.ndim != 1:
        hint = " (is it an images file?)" if labels.ndim == 3 else ""
        raise DataError(f"{path}: expected labels of shape (N,), found shape {labels.shape}{hint}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path}: labels are {labels.dtype}; class labels are whole numbers "
                        "stored as integers (IDX type 0x08, uint8, in MNIST), and rounding "
                        "other numbers to classes would hide a wrong file")
    if len(labels) != count:
        raise DataError(f"{path} holds {len(labels)} labels but {images_path} holds "
                        f"{count} images; each image needs exactly one label")
    outside = numpy.flatnonzero((labels < 0) | (labels >= len(classes)))
    if outside.size:
        first = outside[0]
        raise DataError(f"{path}: labels must lie in 0..{len(classes) - 1} (one per class, "
                        f"{len(classes)} classes), found {labels[first]} at index {first} "
                        f"({outside.size} of {len(labels)} labels out of range)")


def read_split(directory, split, classes):
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of one split, checked."""
    images_stem, labels_stem = sources.FILE_STEMS[split]
    images_path = sources.find_file(directory, images_stem)
    labels_path = sources.find_file(directory, labels_stem)
    images = load_idx(images_path)
    check_images(images, images_path)
    labels = load_idx(labels_path)
    check_labels(labels, labels_path, len(images), images_path, classes)
    return images, labels.astype(numpy.int64)


def load_dataset(name, split="train", path=None, verbose=True):
    """Load one split ("train" or "test") of "fashion-mnist" or "mnist".

    Looks in ``path`` (if given), ``$MINICNN_DATA/<name>``, the Debian
    package, the user cache and the embedded sample, in that order, and
    prints one line to stderr saying which it used (unless ``verbose`` is
    false), after a line saying why when a set ``$MINICNN_DATA`` was passed
    over. Returns a ``Dataset``. Raises ``DataError`` (a ``ValueError``)
    naming the file for images that are not (N, 28, 28) uint8 or labels that
    are not whole numbers in range, one per image.
    """
    sources.check_name(name)
    if not isinstance(split, str) or split not in sources.FILE_STEMS:
        raise DataError(f"unknown split {split!r}; choose 'train' or 'test'")
    found = sources.locate(name, path)
    skipped = sources.skipped_setting(name, found[0] if found else None)
    if found is None:
        looked = "\n".join(f"  {kind}: {location}" for kind, location, _ in
                           sources.describe_sources(name))
        help_text = FETCH_HELP.format(name=name, cache=sources.cache_dir(name))
        note = f"\n{skipped}" if skipped else ""
        raise FileNotFoundError(f"{name} not found. Looked in:\n{looked}{note}\n{help_text}")
    kind, directory = found
    classes = list(sources.CLASSES[name])
    images, labels = read_split(directory, split, classes)
    source = f"{kind} ({directory})"
    if verbose:
        if skipped:
            print(f"minicnn: {skipped}", file=sys.stderr)
        print(f"minicnn: {name}/{split}: {len(images)} images from the {source}",
              file=sys.stderr)
    return Dataset(images, labels, classes, source, name, split)
