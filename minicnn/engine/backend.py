"""Backends: which array library holds the data and which kernels run.

=========  ==================  ============================================
name       arrays              hot loops (im2col, col2im, pooling, LRN, ...)
=========  ==================  ============================================
``numpy``  NumPy (CPU)         the plain-array references in kernels/
``numba``  NumPy (CPU)         their Numba twins, where kernels/__init__.py lists one
``cupy``   CuPy (GPU)          their CUDA twins, where kernels/__init__.py lists one
=========  ==================  ============================================

Ops never branch on the backend. They ask their inputs for the array module
(``xp = get_array_module(x)``, as Chainer does) and write ``xp.exp(...)``;
the few hot loops go through ``minicnn.engine.kernels``, which picks the compiled
version for the active backend.

Choose a backend with ``set_backend("numba")``, the ``MINICNN_BACKEND``
environment variable, the ``--backend`` flag of the ``minicnn`` command, or
for a block of code ``with using_backend("numba"): ...``. When nothing
chose one, ``default_backend()`` decides, for a script and for the
``minicnn`` command alike: $MINICNN_BACKEND, else "numba" where Numba
imports (the fastest CPU backend; what runs is still shown by
``model.summary()``), else "numpy". Never "cupy" unasked: the GPU holds
its own arrays, and a script moves its model there itself
(``model.to("gpu")``).

This is the bottom of the engine: it imports nothing from minicnn, and
everything else (the kernels included) imports it. So the two optional
libraries are probed here, once, as Chainer's backend.py does: Numba
(compiled CPU loops, and numba.cuda for the GPU kernels) and CuPy (GPU
arrays). Each import is guarded; when a library is missing, ``numba`` or
``cupy`` below is None and ``numba_reason`` or ``cupy_reason`` says, in
plain words, why and how to get it. Apart from these two guarded imports,
only the kernels package imports numba or cupy; the rest of minicnn asks
``get_array_module`` for the array module, and the few places that need
CuPy itself (its random generator, its GPU properties) take ``backend.cupy``.
"""

import contextlib
import os

import numpy

# ----- the optional libraries, probed once ----------------------------------------------------

numba = None
numba_reason = ""
try:  # pragma: no cover - depends on the machine
    import numba  # noqa: F811
except Exception as error:  # ImportError, or a broken LLVM install
    numba = None
    numba_reason = f"numba is not importable ({error}); install it with `pip install numba`"

cupy = None
cupy_reason = ""
try:  # pragma: no cover - depends on the machine
    import cupy  # noqa: F811

    try:
        device_count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        device_count = 0
        cupy_reason = f"cupy is installed but no CUDA device answers ({error})"
    if device_count == 0:
        cupy = None
        cupy_reason = cupy_reason or "cupy is installed but reports no CUDA device"
except Exception as error:
    cupy = None
    cupy_reason = (
        f"cupy is not importable ({type(error).__name__}: {error}); on a machine "
        "with an NVIDIA GPU install it with `pip install minicnn[gpu]` "
        "(or the cupy-cudaXXx wheel matching your CUDA version)"
    )

# Numba's CUDA simulator runs numba.cuda kernels on the CPU over NumPy arrays.
# It is switched on by NUMBA_ENABLE_CUDASIM=1 before numba is imported; this
# is what numba read then.
cuda_simulator = numba is not None and bool(numba.config.ENABLE_CUDASIM)


def is_cupy_array(array):
    """True when ``array`` is a CuPy ndarray (always False without CuPy)."""
    return cupy is not None and isinstance(array, cupy.ndarray)


# ----- the active backend -----------------------------------------------------------------------

NAMES = ("numpy", "numba", "cupy")

_active = {"name": None}


def backends():
    """What each backend needs and whether this machine has it.

    Returns a dict ``{name: (available, reason)}``; ``reason`` explains a
    missing dependency and how to get it (empty when available).
    """
    return {
        "numpy": (True, ""),
        "numba": (numba is not None, numba_reason),
        "cupy": (cupy is not None, cupy_reason),
    }


def _check_name(name):
    if name not in NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    available, reason = backends()[name]
    if not available:
        raise RuntimeError(f"backend {name!r} is not available on this machine: {reason}")
    return name


def default_backend():
    """The backend used when none was set: $MINICNN_BACKEND if set (and not empty), else
    "numba" if Numba imports, else "numpy". Raises ValueError or RuntimeError, naming
    $MINICNN_BACKEND, for an unknown or unavailable name there."""
    chosen = os.environ.get("MINICNN_BACKEND")
    if chosen:
        try:
            return _check_name(chosen)
        except (ValueError, RuntimeError) as error:   # name where the name came from
            raise type(error)(f"$MINICNN_BACKEND: {error}") from None
    return "numba" if numba is not None else "numpy"


def get_backend():
    """Name of the active backend ("numpy", "numba" or "cupy"): the one set, else
    ``default_backend()``."""
    if _active["name"] is None:
        _active["name"] = default_backend()
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
        if is_cupy_array(array):
            return cupy
    return numpy


def default_device():
    """"gpu" when the cupy backend is active, else "cpu"."""
    return "gpu" if get_backend() == "cupy" else "cpu"


def device_of(array):
    """"gpu" for a CuPy array, "cpu" otherwise."""
    return "gpu" if is_cupy_array(array) else "cpu"


def to_device(array, device):
    """Copy ``array`` to ``device`` ("cpu" or "gpu"); no copy when already there."""
    if device not in ("cpu", "gpu"):
        raise ValueError(f"unknown device {device!r}; choose 'cpu' or 'gpu'")
    if device == device_of(array):
        return array
    if device == "cpu":
        return array.get()
    if cupy is None:
        raise RuntimeError(f"cannot move an array to the GPU: {cupy_reason}")
    return cupy.asarray(array)


def to_numpy(array):
    """A NumPy copy (or the array itself) of a NumPy or CuPy array."""
    return to_device(array, "cpu") if device_of(array) == "gpu" else numpy.asarray(array)
