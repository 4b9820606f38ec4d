"""minicnn's own random numbers: one seed, reproducible on CPU and GPU.

``manual_seed(s)`` reseeds the generators used by dropout, weight
initialisation and data shuffling helpers. ``get_state``/``set_state`` give
the CPU generator's state as plain JSON-able data, which checkpoints store.

Data-parallel training (minicnn/distributed/) runs the rows of one batch on
several processes. ``drawing_for_batch(rows, batch_rows)`` makes each of them
draw dropout's numbers for the whole batch and keep its own rows, so that
every image gets the numbers it would get in a single process.
"""

import contextlib

import numpy

from . import backend

# rows: None, or (the slice of the batch this process computes, the batch's row count)
_state = {"seed": 0, "cpu": numpy.random.default_rng(0), "gpu": None, "rows": None}


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
    """Uniform [0, 1) numbers of ``shape`` and float ``dtype``, on xp's device.

    Inside ``drawing_for_batch(rows, batch_rows)``, shape is (len(rows), ...):
    the numbers of all batch_rows rows are drawn, (batch_rows, ...), and
    ``rows`` of them returned.
    """
    if _state["rows"] is None:
        return generator(xp).random(shape, dtype=dtype)
    rows, batch_rows = _state["rows"]
    share = len(range(batch_rows)[rows])
    if shape[0] != share:
        raise ValueError(f"uniform_array: drawing for rows {rows.start}:{rows.stop} of a batch of "
                         f"{batch_rows}, the first dimension should be those {share} rows, got shape {shape}")
    return generator(xp).random((batch_rows,) + tuple(shape[1:]), dtype=dtype)[rows]


@contextlib.contextmanager
def drawing_for_batch(rows, batch_rows):
    """Inside the block, random draws are made for a whole batch and ``rows`` (a slice) kept.

    rows: this process's rows of the batch, e.g. slice(3, 6); batch_rows: the
    batch's row count. Every process of a data-parallel job draws the same
    (batch_rows, ...) numbers, since their generators have the same seed, and
    each keeps its own rows: image i of the batch gets the same dropout mask
    whichever process computes it. With rows = slice(0, batch_rows) nothing changes.
    """
    saved = _state["rows"]
    _state["rows"] = (rows, batch_rows)
    try:
        yield
    finally:
        _state["rows"] = saved


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
