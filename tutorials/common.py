"""What every tutorial shares: fast mode, where figures go, a data subset.

Each tutorial starts with ``from common import FAST, savefig, ...``. This file
is not a lesson; it only keeps a dozen lines out of every one of them.

    MINICNN_FAST=1             tiny data, few epochs: the whole lesson in seconds
                               (tests/test_tutorials.py runs every lesson so)
    MINICNN_TUTORIAL_OUT=DIR   where figures are written (default tutorials/figures/)
    OPENBLAS_NUM_THREADS=k     threads for NumPy's matrix products; the tutorials
                               default to 1 (see below), and NUMBA_NUM_THREADS too

Import this module before NumPy: BLAS reads its thread count when NumPy
loads. The tutorials use one BLAS thread unless you say otherwise, because
their matrices are small and the machines they run on are often shared: a
multi-threaded BLAS makes every small product wait for all its threads,
and when another program holds a core that wait can make training several
times slower (lesson 13 measures it). On an idle many-core machine, try
``OPENBLAS_NUM_THREADS=4 python tutorials/06_first_convnet.py``.

When minicnn is not installed (no ``pip install -e .`` yet), the checkout that
holds this file is put on ``sys.path``, so ``python tutorials/01_...py`` works
from a fresh clone.
"""

import os
import sys
import time
from pathlib import Path

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

try:
    import minicnn  # noqa: F401
except ModuleNotFoundError:
    sys.path.insert(0, str(ROOT))
    import minicnn  # noqa: F401

import matplotlib
import numpy

IN_NOTEBOOK = "ipykernel" in sys.modules
if not IN_NOTEBOOK:
    matplotlib.use("Agg")  # scripts only write PNG files; notebooks show figures inline

import matplotlib.pyplot as plt  # noqa: E402

FAST = os.environ.get("MINICNN_FAST", "") not in ("", "0")
OUT = Path(os.environ.get("MINICNN_TUTORIAL_OUT") or HERE / "figures")
OUT.mkdir(parents=True, exist_ok=True)


def savefig(fig, name):
    """Write ``fig`` to OUT/name (PNG) and say where; returns the path."""
    path = OUT / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"figure written: {path}")
    if not IN_NOTEBOOK:
        plt.close(fig)
    return path


def show(path):
    """A PNG written by a minicnn plot function: say where, and display it in a notebook."""
    print(f"figure written: {path}")
    if IN_NOTEBOOK:
        from IPython.display import Image, display
        display(Image(filename=str(path)))
    return path


def per_class_subset(dataset, per_class, seed=0):
    """Indices of ``per_class`` images of every class of ``dataset``, shuffled.

    The same seed gives the same images whether the data came from the full
    Fashion-MNIST or the embedded sample, as long as each class has enough.
    """
    rng = numpy.random.default_rng(seed)
    chosen = []
    for label in range(len(dataset.classes)):
        indices = numpy.flatnonzero(dataset.labels == label)
        chosen.append(rng.choice(indices, per_class, replace=False))
    return rng.permutation(numpy.concatenate(chosen))


def fashion_subset(split, per_class, seed=0):
    """A balanced Fashion-MNIST subset: (images (N, 1, 28, 28) float32 in [0, 1], labels (N,), classes).

    Works with whichever copy ``load_dataset`` finds (the full data or the
    embedded sample of 600 training and 100 test images per class).
    """
    from minicnn.data import load_dataset, to_float

    dataset = load_dataset("fashion-mnist", split)
    chosen = per_class_subset(dataset, per_class, seed)
    return to_float(dataset.images[chosen]), dataset.labels[chosen], dataset.classes


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
