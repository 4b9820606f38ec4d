"""Backends: which array library holds the data and which kernels run.

=========  ==================  ============================================
name       arrays              hot loops (im2col, col2im, pooling, LRN)
=========  ==================  ============================================
``numpy``  NumPy (CPU)         plain-array reference code, kernels/reference.py
``numba``  NumPy (CPU)         Numba-compiled loops, kernels/numba_cpu.py
``cupy``   CuPy (GPU)          CUDA kernels, kernels/cuda.py
=========  ==================  ============================================

Ops never branch on the backend. They ask their inputs for the array module
(``xp = get_array_module(x)``, as Chainer does) and write ``xp.exp(...)``;
the few hot loops go through ``minicnn.engine.kernels``, which picks the compiled
version for the active backend.

Choose a backend with ``set_backend("numba")``, the ``MINICNN_BACKEND``
environment variable, the ``--backend`` flag of the ``minicnn`` command, or
for a block of code ``with using_backend("numba"): ...``.
"""

import contextlib
import os

import numpy

from .kernels import availability

NAMES = ("numpy", "numba", "cupy")

_active = {"name": None}


def backends():
    """What each backend needs and whether this machine has it.

    Returns a dict ``{name: (available, reason)}``; ``reason`` explains a
    missing dependency and how to get it (empty when available).
    """
    return {
        "numpy": (True, ""),
        "numba": (availability.numba is not None, availability.numba_reason),
        "cupy": (availability.cupy is not None, availability.cupy_reason),
    }


def _check_name(name):
    if name not in NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    available, reason = backends()[name]
    if not available:
        raise RuntimeError(f"backend {name!r} is not available on this machine: {reason}")
    return name


def get_backend():
    """Name of the active backend ("numpy", "numba" or "cupy")."""
    if _active["name"] is None:
        _active["name"] = _check_name(os.environ.get("MINICNN_BACKEND", "numpy"))
    return _active["name"]


def set_backend(name):
    """Make ``name`` the active backend for everything that follows."""
    _active["name"] = _check_name(name)


@contextlib.contextmanager
def using_backend(name):
    """``with using_backend("numba"): ...`` runs a block on another backend."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        _active["name"] = previous


def get_array_module(*arrays):
    """``cupy`` if any argument is a CuPy array, else ``numpy`` (Chainer's idiom)."""
    for array in arrays:
        if availability.is_cupy_array(array):
            return availability.cupy
    return numpy


def default_device():
    """"gpu" when the cupy backend is active, else "cpu"."""
    return "gpu" if get_backend() == "cupy" else "cpu"


def device_of(array):
    """"gpu" for a CuPy array, "cpu" otherwise."""
    return "gpu" if availability.is_cupy_array(array) else "cpu"


def to_device(array, device):
    """Copy ``array`` to ``device`` ("cpu" or "gpu"); no copy when already there."""
    if device not in ("cpu", "gpu"):
        raise ValueError(f"unknown device {device!r}; choose 'cpu' or 'gpu'")
    if device == device_of(array):
        return array
    if device == "cpu":
        return array.get()
    if availability.cupy is None:
        raise RuntimeError(f"cannot move an array to the GPU: {availability.cupy_reason}")
    return availability.cupy.asarray(array)


def to_numpy(array):
    """A NumPy copy (or the array itself) of a NumPy or CuPy array."""
    return to_device(array, "cpu") if device_of(array) == "gpu" else numpy.asarray(array)
