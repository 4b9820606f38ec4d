"""Real data for minicnn: Fashion-MNIST and MNIST, read from IDX files.

    from minicnn.data import load_dataset, to_float, DataLoader
    train = load_dataset("fashion-mnist", "train")   # prints where it came from
    loader = DataLoader(to_float(train.images), train.labels, batch_size=128)

Modules, one idea each:

    idx.py         the IDX file format: load_idx, save_idx, IDXError; DataError,
                   the error for any data minicnn cannot use
    sources.py     where the files are looked for, in order; describe_sources
    download.py    fetch(name): download into the cache, SHA-256 checked;
                   FetchError, FetchInterrupted (Ctrl-C)
    datasets.py    load_dataset(name, split) -> Dataset
    preprocess.py  to_float, normalize, mean_std
    loader.py      DataLoader: seeded shuffling and batching
    geometry.py    rotate, zoom, shear, shift, crop, flip by inverse mapping
    transforms.py  random, composable augmentation built on geometry.py
    make_embedded.py  rebuilds the shipped sample in embedded/
"""

from .datasets import Dataset, load_dataset
from .download import FetchError, FetchInterrupted, fetch
from .idx import DataError, IDXError, load_idx, save_idx
from .loader import DataLoader
from .preprocess import mean_std, normalize, to_float
from .sources import NAMES, cache_dir, describe_sources
from .transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    RandomShear,
    RandomShift,
    RandomZoom,
    ToFloat,
    keras_example,
)

__all__ = [
    "Compose", "DataError", "DataLoader", "Dataset", "FetchError", "FetchInterrupted", "IDXError",
    "NAMES", "Normalize",
    "RandomCrop", "RandomHorizontalFlip", "RandomRotation", "RandomShear", "RandomShift",
    "RandomZoom", "ToFloat", "cache_dir", "describe_sources", "fetch", "keras_example",
    "load_dataset", "load_idx", "mean_std", "normalize", "save_idx", "to_float",
]
