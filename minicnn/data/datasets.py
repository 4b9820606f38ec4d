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
from .idx import IDXError, load_idx

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


def read_split(directory, split, classes):
    """Images ``(N, rows, cols)`` uint8 and labels ``(N,)`` int64 of one split, checked."""
    images_stem, labels_stem = sources.FILE_STEMS[split]
    images_path = sources.find_file(directory, images_stem)
    labels_path = sources.find_file(directory, labels_stem)
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != numpy.uint8:
        raise IDXError(f"{images_path}: expected (N, rows, cols) uint8 images, "
                       f"found shape {images.shape} of {images.dtype}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise IDXError(f"{labels_path}: expected ({len(images)},) labels to match "
                       f"{images_path}, found shape {labels.shape}")
    if labels.size and not 0 <= labels.min() <= labels.max() < len(classes):
        raise IDXError(f"{labels_path}: labels must lie in 0..{len(classes) - 1}, "
                       f"found {labels.min()}..{labels.max()}")
    return images, labels.astype(numpy.int64)


def load_dataset(name, split="train", path=None, verbose=True):
    """Load one split ("train" or "test") of "fashion-mnist" or "mnist".

    Looks in ``path`` (if given), ``$MINICNN_DATA/<name>``, the Debian
    package, the user cache and the embedded sample, in that order, and
    prints one line to stderr saying which it used (unless ``verbose`` is
    false). Returns a ``Dataset``.
    """
    sources.check_name(name)
    if split not in sources.FILE_STEMS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    found = sources.locate(name, path)
    if found is None:
        looked = "\n".join(f"  {kind}: {location}" for kind, location, _ in
                           sources.describe_sources(name))
        help_text = FETCH_HELP.format(name=name, cache=sources.cache_dir(name))
        raise FileNotFoundError(f"{name} not found. Looked in:\n{looked}\n{help_text}")
    kind, directory = found
    classes = list(sources.CLASSES[name])
    images, labels = read_split(directory, split, classes)
    source = f"{kind} ({directory})"
    if verbose:
        print(f"minicnn: {name}/{split}: {len(images)} images from the {source}",
              file=sys.stderr)
    return Dataset(images, labels, classes, source, name, split)
