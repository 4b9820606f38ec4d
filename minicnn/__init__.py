"""minicnn: a convolutional-network engine written from scratch to be read.

    import minicnn as mc
    from minicnn import nn, optim, functional as F

Conventions, fixed everywhere: arrays are NCHW; float32 by default, float64
when given float64 (gradient checks); output sizes are floored,
(N - F + 2P) / S + 1, unless ceil_mode=True; max-pool ties go to the first
maximum in row-major window order; ReLU's gradient is 0 at exactly 0; LRN
divides alpha by its window size; parameter names and shapes are PyTorch's.
"""

from . import process

process.tune()  # before NumPy loads OpenBLAS: see minicnn/process.py (MINICNN_TUNE_PROCESS=0 skips it)

from . import functional, nn, optim, random, shapes  # noqa: E402 (after tune(), on purpose)
from .backend import backend, backends, get_backend, set_backend, to_numpy
from .gradcheck import GradcheckError, gradcheck
from .random import manual_seed
from .shapes import ShapeError
from .tensor import Function, Tensor, no_grad, tensor

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "tensor", "no_grad", "gradcheck", "GradcheckError", "ShapeError",
    "functional", "nn", "optim", "shapes", "random", "manual_seed",
    "set_backend", "get_backend", "backend", "backends", "to_numpy",
]
