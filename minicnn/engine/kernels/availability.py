"""Optional accelerator libraries, imported in one guarded place.

minicnn runs on NumPy alone. Numba (compiled CPU loops) and CuPy (GPU
arrays) are optional: this module tries to import each once and records,
in plain words, why it is not usable when it is not. Nothing outside the
``minicnn.engine.kernels`` package imports numba or cupy directly.
"""

import os

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
cuda_simulator = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def is_cupy_array(array):
    """True when ``array`` is a CuPy ndarray (always False without CuPy)."""
    return cupy is not None and isinstance(array, cupy.ndarray)
