"""Whole networks: a training step, images per second.

    keras_mnist_cnn  train step: forward, cross-entropy, backward, SGD (momentum 0.9), batch 128
    zfnet_small      the same
    zfnet (224x224)  forward, and forward + backward, batch 32; on GPU targets only
                     unless --include-cpu-zfnet (see ``cases`` for why)

Every target starts from the same weights (one ``state_dict``) and the same
batch. PyTorch runs the same network, built layer for layer from minicnn's
(``torch_network``): parameter names and shapes are PyTorch's, so the
weights load unchanged.

The correctness check runs one forward and backward on a smaller batch and
compares the loss (or, for "forward", the scores) and every parameter's
gradient with the NumPy reference, with two differences from the timed runs:

- evaluation mode: dropout draws its masks from each library's own random
  numbers, so with dropout on no two libraries would agree;
- float64: in float32, two libraries' convolutions differ in the last bit,
  and where two values in a pooling window are that close the maximum can
  fall on the other pixel. ZFNet's first pool has 290,400 windows; one such
  flip sends one gradient value to a neighbouring pixel and changes the
  first layer's weight gradient by a few percent: correct behaviour that no
  elementwise tolerance would pass. In float64 such near-ties do not happen,
  so the check can be strict. (Each op's float32 result is checked on its
  own in the ops suite.)

The timed runs are float32 and in training mode, dropout included.
"""

from dataclasses import dataclass, field

import numpy

from ..engine import functional as F
from ..engine import nn, optim
from ..models import get_model, input_shape
from ..engine.rng import manual_seed
from ..engine.tensor import no_grad, tensor
from . import flops

# The check runs in float64 (see above): rounding differences of about 1e-16
# per operation, grown by the depth and the sums, stay far below 1e-8.
TOLERANCE = 1e-8
LEARNING_RATE, MOMENTUM = 0.01, 0.9


def torch_network(model):
    """The same Sequential in PyTorch, with the same weights."""
    import torch
    layers = []
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            layers.append(torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                          layer.stride, layer.padding, layer.dilation, layer.groups,
                                          bias=layer.bias is not None))
        elif isinstance(layer, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding,
                                             layer.dilation, ceil_mode=layer.ceil_mode))
        elif isinstance(layer, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(layer, nn.LocalResponseNorm):
            layers.append(torch.nn.LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k))
        elif isinstance(layer, nn.Dropout):
            layers.append(torch.nn.Dropout(layer.p))
        elif isinstance(layer, nn.Flatten):
            layers.append(torch.nn.Flatten())
        elif isinstance(layer, nn.Linear):
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None))
        else:
            raise TypeError(f"torch_network: no PyTorch twin for {layer.describe()}")
    network = torch.nn.Sequential(*layers)
    network.load_state_dict({name: torch.from_numpy(array) for name, array in model.state_dict().items()})
    return network


@dataclass
class ModelCase:
    model_name: str
    name: str              # "train step", "forward" or "forward+backward"
    batch: int
    check_batch: int
    seed: int = 0
    cpu_note: str = ""     # why CPU targets skip this case ("" = they run it)
    suite: str = "models"
    tolerance: float = TOLERANCE
    check_differs = True
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        manual_seed(self.seed)
        self.shape = input_shape(self.model_name)
        self.reference_model = get_model(self.model_name)     # NumPy weights, shared by every target
        self.state = self.reference_model.state_dict()
        self.classes = self.reference_model[-1].out_features
        self.work = flops.network(self.reference_model, self.shape, self.batch, self.name)
        self.workload = f"{self.model_name}, batch {self.batch}, x {self.shape}"
        self.params = {"model": self.model_name, "batch": self.batch, "check_batch": self.check_batch,
                       "input_shape": self.shape, "classes": self.classes, "dtype": "float32",
                       "check_dtype": "float64",
                       "parameters": int(sum(p.size for p in self.reference_model.parameters())),
                       "sgd": {"lr": LEARNING_RATE, "momentum": MOMENTUM} if self.name == "train step" else None}

    def skip_reason(self, target):
        return self.cpu_note if target.device == "cpu" else ""

    def inputs(self, rng, purpose):
        batch = self.check_batch if purpose == "check" else self.batch
        return {"x": rng.standard_normal((batch,) + self.shape, dtype=numpy.float32),
                "labels": rng.integers(0, self.classes, batch).astype(numpy.int64)}

    def runner(self, target, arrays, purpose):
        manual_seed(self.seed)
        if target.library == "minicnn":
            return self._ours(target, arrays, purpose)
        target.torch.manual_seed(self.seed)
        return self._theirs(target, arrays, purpose)

    def _ours(self, target, arrays, purpose):
        checking = purpose == "check"
        dtype = numpy.float64 if checking else numpy.float32
        model = get_model(self.model_name).load_state_dict(self.state).to(numpy.dtype(dtype).name)
        if target.device == "gpu":
            model.to("gpu")
        x, labels = tensor(target.put(arrays["x"].astype(dtype))), target.put(arrays["labels"])
        optimizer = optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
        model.train(not checking and self.name != "forward")

        def run():
            if self.name == "forward":
                with no_grad():
                    return (model(x),)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            if checking:
                return (loss, *[p.grad for p in model.parameters()])
            if self.name == "train step":
                optimizer.step()
            return (loss,)
        return run

    def _theirs(self, target, arrays, purpose):
        torch = target.torch
        checking = purpose == "check"
        dtype = numpy.float64 if checking else numpy.float32
        network = torch_network(self.reference_model).to(target.torch_device)
        network = network.double() if checking else network
        x, labels = target.put(arrays["x"].astype(dtype)), target.put(arrays["labels"])
        optimizer = torch.optim.SGD(network.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
        network.train(not checking and self.name != "forward")

        def run():
            if self.name == "forward":
                with torch.no_grad():
                    return (network(x),)
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(network(x), labels)
            loss.backward()
            if checking:
                return (loss, *[p.grad for p in network.parameters()])
            if self.name == "train step":
                optimizer.step()
            return (loss,)
        return run


def cases(quick, have_gpu, batch=128, zfnet_batch=32, include_cpu_zfnet=False, seed=0):
    """(the model cases, notes on the cases left out); with quick, batch 8 (checked on 4).

    ZFNet at 224x224 runs on GPU targets only unless include_cpu_zfnet: its
    steps are many times the work of the 28x28 models' (compare their GFLOP
    column in benchmarks/results/gpu-h100-2026-11-22/results.md), and each case
    is called ten times or more per target (timing.py), so on a CPU it would
    take most of the suite's time. It is left out altogether when no target
    would run it, since drawing its 62M random weights is itself slow.
    """
    if quick:
        batch, zfnet_batch = 8, 2
    check_batch = min(batch, 4 if quick else 8)
    chosen = [ModelCase("keras_mnist_cnn", "train step", batch, check_batch, seed),
              ModelCase("zfnet_small", "train step", batch, check_batch, seed)]
    zfnet_note = "" if include_cpu_zfnet else (
        "ZFNet at 224x224 is GPU-only by default: its steps are many times the work of the "
        "28x28 models' (GFLOP column), timed ten times or more per target (pass --include-cpu-zfnet)")
    if have_gpu or include_cpu_zfnet:
        chosen += [ModelCase("zfnet", "forward", zfnet_batch, 1, seed, cpu_note=zfnet_note),
                   ModelCase("zfnet", "forward+backward", zfnet_batch, 1, seed, cpu_note=zfnet_note)]
        return chosen, []
    return chosen, [f"zfnet forward and forward+backward (batch {zfnet_batch}): {zfnet_note}"]
