"""minicnn: a convolutional-network engine written from scratch to be read.

    import minicnn as mc
    from minicnn import nn, optim, functional as F

PyTorch's habits work too: ``import minicnn.nn as nn``, ``import
minicnn.functional as F``, ``import minicnn.optim as optim``, ``from
minicnn.nn import Conv2d``. Those three modules (minicnn/nn.py,
minicnn/functional.py, minicnn/optim.py) are the engine's public face: each
only names what it offers; the code is in minicnn/engine/.

The package has two layers (docs/architecture.md draws them):

    minicnn/engine/    the engine: tensors and autograd, the ops, layers,
                       SGD, gradient checks, shapes, backends and kernels.
                       It imports nothing else from minicnn.
    the lab, built on the engine and loaded only when named:
    minicnn/data/      IDX files, Fashion-MNIST and MNIST, augmentation
    minicnn/models/    the model zoo (LeNet-5 ... VGG16)
    minicnn/distributed/ data-parallel training over MPI (or NCCL between GPUs)
    minicnn/training/  fit, checkpoints, schedules, callbacks, experiments
    minicnn/visualize/ ZFNet's deconvnet and diagnostics
    minicnn/bench/     timing the backends against each other and PyTorch
    minicnn/explore/   the live explorer web app
    minicnn/cli/       the ``minicnn`` command, the tour and its HTML reports

``import minicnn`` loads the engine alone; everything the README's first
example uses is here. Conventions, fixed everywhere: arrays are NCHW;
float32 by default, float64 when given float64 (gradient checks); output
sizes are floored, (N - F + 2P) / S + 1, unless ceil_mode=True; max-pool ties
go to the first maximum in row-major window order; ReLU's gradient is 0 at
exactly 0; LRN divides alpha by its window size; parameter names and shapes
are PyTorch's.

``set_backend`` chooses where and with which kernels minicnn computes
(default: numba where Numba imports, else numpy; ``$MINICNN_BACKEND``
overrides it). ``set_routes("reference")`` makes every op run the plain
formulas of minicnn/engine/functional/ and every nn.Sequential run its
layers as written; by default faster routes run where they pay, and
``model.summary()`` shows which (minicnn/engine/kernels/routes.py).

Importing minicnn changes nothing process-wide: no environment variable, no
allocator setting, no other library's thread pool. minicnn computes on its
own threads (``set_num_threads(n)``; default: the cores this process may
use). ``minicnn.engine.process.tune()`` is an explicit, optional call for
those who want its process-wide settings.
"""

from . import functional, nn, optim
from .engine import rng, shapes
from .engine.backend import backends, get_backend, set_backend, to_numpy, using_backend
from .engine.gradcheck import GradcheckError, gradcheck
from .engine.kernels.routes import get_routes, set_routes, using_routes
from .engine.rng import manual_seed
from .engine.shapes import ShapeError
from .engine.tensor import Function, Tensor, no_grad, tensor
from .engine.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "tensor", "no_grad", "gradcheck", "GradcheckError", "ShapeError",
    "functional", "nn", "optim", "shapes", "rng", "manual_seed",
    "set_backend", "get_backend", "using_backend", "backends", "to_numpy",
    "set_routes", "get_routes", "using_routes",
    "set_num_threads", "get_num_threads",
]
