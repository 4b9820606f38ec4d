"""What gets timed: a minicnn backend, or PyTorch on a device.

    name        library   device  arrays          kernels
    numpy       minicnn   cpu     NumPy           the plain-array references in kernels/
    numba       minicnn   cpu     NumPy           their Numba twins, where kernels.KERNELS uses one
    cupy        minicnn   gpu     CuPy            their CUDA twins, where kernels.KERNELS uses one
    torch-cpu   PyTorch   cpu     torch.Tensor    PyTorch's own (oneDNN, MKL)
    torch-cuda  PyTorch   gpu     torch.Tensor    cuDNN, cuBLAS

A target knows how to move a NumPy array onto its device (``put``), bring a
result back as NumPy (``fetch``), wait for its device (``synchronize``), and
make the two yardsticks of ``machine.py``: a float32 matrix product and a
plain copy. The op cases (suite_*.py) do the rest: one function written with
minicnn, one with PyTorch.

PyTorch on the GPU is asked for plain float32 (no TF32 in matmuls or
convolutions), as minicnn computes, and lets cuDNN pick its fastest
algorithm for each shape (``cudnn.benchmark``: the warm-up calls pay for it).
"""

import contextlib

import numpy

from ..engine import backend, kernels
from ..engine.backend import backends, to_device, to_numpy, using_backend
from ..engine.kernels.compiled import cuda_reason
from ..engine.tensor import Tensor

MINICNN_NAMES = ("numpy", "numba", "cupy")
TORCH_NAMES = ("torch-cpu", "torch-cuda")
ALL_NAMES = MINICNN_NAMES + TORCH_NAMES


def import_torch():
    """(torch module, "") or (None, why not): PyTorch is an optional benchmark dependency."""
    try:
        import torch
    except Exception as error:  # ImportError, or a broken install
        return None, f"PyTorch is not importable ({error}); install it with `pip install minicnn[bench]`"
    return torch, ""


class MinicnnTarget:
    library = "minicnn"

    def __init__(self, name):
        self.name = name
        self.device = "gpu" if name == "cupy" else "cpu"
        self.peak_library = "cupy" if name == "cupy" else "numpy"  # numba's matmul is NumPy's

    def active(self):
        """``with target.active():`` runs minicnn code on this backend."""
        return using_backend(self.name)

    @property
    def xp(self):
        return backend.cupy if self.device == "gpu" else numpy

    def put(self, array):
        return to_device(numpy.array(array), self.device)

    def fetch(self, value):
        if isinstance(value, Tensor):
            value = value.data
        return numpy.asarray(to_numpy(value))

    def synchronize(self):
        if self.device == "gpu":
            backend.cupy.cuda.Device().synchronize()

    def gemm(self, a, b):
        """A function computing a @ b (float32, into a preallocated result)."""
        a, b = self.put(a), self.put(b)
        out = self.xp.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        return lambda: self.xp.matmul(a, b, out=out)

    def copy(self, source):
        source = self.put(source)
        destination = self.xp.empty_like(source)
        return lambda: self.xp.copyto(destination, source)

    def compiled_kernels(self):
        """The hot loops that run compiled on this backend (the rest run the reference)."""
        if self.name == "numba":
            if backend.numba is None:
                return [f"(none: {backend.numba_reason})"]
            return [name for name, kernel in kernels.KERNELS.items()
                    if kernel.numba_from_size is not None]
        if self.name == "cupy":
            if cuda_reason():
                return [f"(none: {cuda_reason()})"]
            return [name for name, kernel in kernels.KERNELS.items() if kernel.cuda_used]
        return []


class TorchTarget:
    library = "torch"

    def __init__(self, name, torch):
        self.name, self.torch = name, torch
        self.device = "gpu" if name == "torch-cuda" else "cpu"
        self.torch_device = "cuda" if self.device == "gpu" else "cpu"
        self.peak_library = name
        if self.device == "gpu":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = True

    def active(self):
        return contextlib.nullcontext()

    def put(self, array, requires_grad=False):
        tensor = self.torch.from_numpy(numpy.array(array)).to(self.torch_device)
        return tensor.requires_grad_(requires_grad)

    def fetch(self, value):
        if isinstance(value, self.torch.Tensor):
            return value.detach().cpu().numpy()
        return numpy.asarray(value)

    def synchronize(self):
        if self.device == "gpu":
            self.torch.cuda.synchronize()

    def gemm(self, a, b):
        a, b = self.put(a), self.put(b)
        out = self.torch.empty((a.shape[0], b.shape[1]), dtype=a.dtype, device=self.torch_device)
        return lambda: self.torch.mm(a, b, out=out)

    def copy(self, source):
        source = self.put(source)
        destination = self.torch.empty_like(source)
        return lambda: destination.copy_(source)

    def compiled_kernels(self):
        return []


def expand(names):
    """"torch" stands for torch-cpu and torch-cuda; check every name."""
    expanded = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        group = TORCH_NAMES if name == "torch" else (name,)
        for member in group:
            if member not in ALL_NAMES:
                raise ValueError(f"unknown backend {name!r}; choose from numpy, numba, cupy, torch, "
                                 "torch-cpu, torch-cuda")
            if member not in expanded:
                expanded.append(member)
    return expanded


def make_targets(names):
    """(targets that this machine has, {name: reason} for those it lacks), in ``names`` order."""
    targets, missing = [], {}
    minicnn_backends = backends()
    torch, torch_reason = (None, "") if not set(names) & set(TORCH_NAMES) else import_torch()
    for name in names:
        if name in MINICNN_NAMES:
            available, reason = minicnn_backends[name]
            if available:
                targets.append(MinicnnTarget(name))
            else:
                missing[name] = reason
        elif torch is None:
            missing[name] = torch_reason
        elif name == "torch-cuda" and not torch.cuda.is_available():
            missing[name] = "PyTorch has no CUDA device here (a CPU-only build, or no GPU)"
        else:
            targets.append(TorchTarget(name, torch))
    return targets, missing
