"""minicnn's own random numbers: one seed, reproducible on CPU and GPU.

``manual_seed(s)`` reseeds the generators used by dropout, weight
initialisation and data shuffling helpers. ``get_state``/``set_state`` give
the CPU generator's state as plain JSON-able data, which checkpoints store.
"""

import numpy

from . import backend

_state = {"seed": 0, "cpu": numpy.random.default_rng(0), "gpu": None}


def manual_seed(seed):
    """Reseed every minicnn generator."""
    _state["seed"] = int(seed)
    _state["cpu"] = numpy.random.default_rng(seed)
    _state["gpu"] = None


def generator(xp=numpy):
    """The generator for array module ``xp`` (numpy or cupy)."""
    if xp is numpy:
        return _state["cpu"]
    if _state["gpu"] is None:
        _state["gpu"] = backend.cupy.random.default_rng(_state["seed"])
    return _state["gpu"]


def uniform_array(xp, shape, dtype):
    """Uniform [0, 1) numbers of ``shape`` and float ``dtype``, on xp's device."""
    return generator(xp).random(shape, dtype=dtype)


def normal_array(shape, scale, dtype):
    """Gaussian numbers with standard deviation ``scale`` (NumPy, for initialisation)."""
    return (_state["cpu"].standard_normal(shape) * scale).astype(dtype)


def get_state():
    """The CPU generator's state, a JSON-serialisable dict."""
    return {"seed": _state["seed"], "cpu": _state["cpu"].bit_generator.state}


def set_state(state):
    """Restore the CPU generator exactly. The GPU generator restarts from the
    seed (CuPy's generator state is not saved), which is why ``fit`` reseeds
    from (seed, epoch) at every epoch: resuming is exact on every backend."""
    manual_seed(state["seed"])
    _state["cpu"].bit_generator.state = state["cpu"]
