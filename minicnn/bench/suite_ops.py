"""The op cases: each op on the layer sizes of the networks minicnn trains.

    conv2d forward, conv2d backward (input and weight gradients)
        MNIST conv1   x (128, 1, 28, 28),   32 filters 3x3
        mid conv      x (128, 32, 13, 13),  64 filters 3x3   (keras_mnist_cnn's second conv)
        ZFNet conv1   x (32, 3, 224, 224),  96 filters 7x7, stride 2, padding 1
    im2col, col2im alone, on the same three layers
    max_pool2d forward (with switches) and backward, max_unpool2d
        keras pool    x (128, 32, 26, 26),  2x2 stride 2
        ZFNet pool1   x (32, 96, 110, 110), 3x3 stride 2, ceil_mode (windows overlap)
    local_response_norm forward and backward, size 5 (AlexNet 3.3)
        zfnet_small   x (128, 32, 14, 14)
        ZFNet LRN1    x (32, 96, 55, 55)
    cross_entropy forward and backward: logits (128, 10) and (128, 1000)

For each, ``ours`` is the minicnn call a user writes (F.conv2d, ...; for
im2col and col2im the kernel dispatcher, minicnn.engine.kernels) and ``theirs`` the
PyTorch call that computes the same numbers (torch.nn.functional.conv2d,
unfold, fold, ...). A backward case builds the graph once, untimed, and
times ``y.backward(grad)`` (minicnn) and ``torch.autograd.grad`` (PyTorch).

``--quick`` keeps the ops and shrinks every shape, for a smoke test.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy

from ..engine import functional as F
from ..engine import kernels
from ..engine.tensor import tensor
from . import flops
from .flops import ConvGeometry

# float32 results may differ from the reference by rounding: a GEMM of depth
# K = C*KH*KW summed in another order (BLAS blocking, cuDNN) differs by about
# sqrt(K) * 6e-8 relative; 1e-4 leaves room for K up to the thousands.
TOLERANCE = 1e-4


@dataclass
class OpCase:
    suite: str
    name: str
    workload: str
    work: flops.Work
    build: Callable                    # rng -> {name: float32 array}
    ours: Callable                     # (target, arrays) -> run() -> tuple of outputs
    theirs: Callable = None            # the same with PyTorch, or None
    torch_note: str = ""               # why there is no PyTorch twin
    params: dict = field(default_factory=dict)
    tolerance: float = TOLERANCE
    check_differs = False

    def inputs(self, rng, purpose):
        return self.build(rng)

    def runner(self, target, arrays, purpose):
        return (self.ours if target.library == "minicnn" else self.theirs)(target, arrays)

    def skip_reason(self, target):
        if target.library == "torch" and self.theirs is None:
            return self.torch_note or "no PyTorch twin"
        return ""


def random_array(rng, shape):
    return rng.standard_normal(shape, dtype=numpy.float32)


def torch_functional():
    import torch
    return torch, torch.nn.functional


# ----- convolution ------------------------------------------------------------------------

def backward_call(output, leaves, grad=None):
    """A call that runs ``output``'s backward pass and returns the leaves' gradients.

    The graph is built once, outside the timed call; each call clears the
    leaves' gradients first, since gradients accumulate.
    """
    def run():
        for leaf in leaves:
            leaf.grad = None
        output.backward(grad)
        return tuple(leaf.grad for leaf in leaves)
    return run


def conv_cases(label, g, suite="ops"):
    """conv2d forward and backward, im2col and col2im on the layer ``g``."""
    stride, padding = (g.sh, g.sw), (g.ph, g.pw)
    kernel, out = (g.kh, g.kw), (g.oh, g.ow)
    x_shape, w_shape = (g.n, g.c, g.h, g.w), (g.f, g.c, g.kh, g.kw)
    y_shape, cols_shape = (g.n, g.f, g.oh, g.ow), (g.c, g.kh, g.kw, g.n, g.oh, g.ow)  # cols as im2col lays them out
    params = {"x": x_shape, "weight": w_shape, "stride": stride, "padding": padding, "out": out}
    workload = (f"{label}: x {x_shape}, {g.f} filters {g.kh}x{g.kw}"
                + (f"/{g.sh}" if g.sh > 1 else "") + (f" pad {g.ph}" if g.ph else ""))

    def build(rng):
        return {"x": random_array(rng, x_shape), "w": random_array(rng, w_shape) * numpy.float32(0.1),
                "grad": random_array(rng, y_shape), "cols": random_array(rng, cols_shape)}

    def forward_ours(target, a):
        x, w = tensor(target.put(a["x"])), tensor(target.put(a["w"]))
        return lambda: (F.conv2d(x, w, None, stride, padding),)

    def forward_theirs(target, a):
        torch, tF = torch_functional()
        x, w = target.put(a["x"]), target.put(a["w"])

        def run():
            with torch.no_grad():
                return (tF.conv2d(x, w, None, stride, padding),)
        return run

    def backward_ours(target, a):
        x = tensor(target.put(a["x"]), requires_grad=True)
        w = tensor(target.put(a["w"]), requires_grad=True)
        return backward_call(F.conv2d(x, w, None, stride, padding), (x, w), target.put(a["grad"]))

    def backward_theirs(target, a):
        torch, tF = torch_functional()
        x, w = target.put(a["x"], requires_grad=True), target.put(a["w"], requires_grad=True)
        y, grad = tF.conv2d(x, w, None, stride, padding), target.put(a["grad"])
        return lambda: torch.autograd.grad(y, (x, w), grad, retain_graph=True)

    def im2col_ours(target, a):
        x = target.put(a["x"])
        # ours is (C, KH, KW, N, OH, OW); viewed as torch's unfold layout (N, C*KH*KW, OH*OW), no copy
        return lambda: (kernels.im2col(x, kernel, stride, padding, out)
                        .reshape(-1, g.n, g.oh * g.ow).transpose(1, 0, 2),)

    def im2col_theirs(target, a):
        _, tF = torch_functional()
        x = target.put(a["x"])
        return lambda: (tF.unfold(x, kernel, padding=padding, stride=stride),)

    def col2im_ours(target, a):
        cols = target.put(a["cols"])
        return lambda: (kernels.col2im(cols, x_shape, kernel, stride, padding),)

    def col2im_theirs(target, a):
        _, tF = torch_functional()
        cols = target.put(a["cols"].reshape(-1, g.n, g.oh * g.ow).transpose(1, 0, 2).copy())  # (N, K, P)
        return lambda: (tF.fold(cols, (g.h, g.w), kernel, padding=padding, stride=stride),)

    return [
        OpCase(suite, "conv2d forward", workload, flops.conv2d_forward(g), build,
               forward_ours, forward_theirs, params=params),
        OpCase(suite, "conv2d backward", workload, flops.conv2d_backward(g), build,
               backward_ours, backward_theirs, params=params),
        OpCase(suite, "im2col", workload, flops.im2col(g), build, im2col_ours, im2col_theirs,
               params=params),
        OpCase(suite, "col2im", workload, flops.col2im(g), build, col2im_ours, col2im_theirs,
               params=params),
    ]


# ----- max pooling and unpooling ------------------------------------------------------------

def pool_cases(label, g):
    """max_pool2d forward (with switches) and backward, and max_unpool2d, on ``g`` (f == c)."""
    kernel, stride, padding = (g.kh, g.kw), (g.sh, g.sw), (g.ph, g.pw)
    x_shape, y_shape = (g.n, g.c, g.h, g.w), (g.n, g.c, g.oh, g.ow)
    params = {"x": x_shape, "kernel": kernel, "stride": stride, "padding": padding,
              "ceil_mode": g.ceil_mode, "out": (g.oh, g.ow)}
    workload = f"{label}: x {x_shape}, {g.kh}x{g.kw}/{g.sh}" + (" ceil" if g.ceil_mode else "")

    def build(rng):
        return {"x": random_array(rng, x_shape), "grad": random_array(rng, y_shape)}

    def pool_ours(x):
        return F.max_pool2d(x, kernel, stride, padding, g.ceil_mode, return_switches=True)

    def pool_theirs(x):
        _, tF = torch_functional()
        return tF.max_pool2d(x, kernel, stride, padding, ceil_mode=g.ceil_mode, return_indices=True)

    def forward_ours(target, a):
        x = tensor(target.put(a["x"]))

        def run():
            y, switches = pool_ours(x)
            return y, switches.indices
        return run

    def forward_theirs(target, a):
        torch, _ = torch_functional()
        x = target.put(a["x"])

        def run():
            with torch.no_grad():
                return pool_theirs(x)
        return run

    def backward_ours(target, a):
        x = tensor(target.put(a["x"]), requires_grad=True)
        return backward_call(pool_ours(x)[0], (x,), target.put(a["grad"]))

    def backward_theirs(target, a):
        torch, _ = torch_functional()
        x = target.put(a["x"], requires_grad=True)
        (y, _), grad = pool_theirs(x), target.put(a["grad"])
        return lambda: torch.autograd.grad(y, x, grad, retain_graph=True)

    def unpool_ours(target, a):
        y, switches = pool_ours(tensor(target.put(a["x"])))
        return lambda: (F.max_unpool2d(y, switches),)

    def unpool_theirs(target, a):
        _, tF = torch_functional()
        y, indices = pool_theirs(target.put(a["x"]))
        return lambda: (tF.max_unpool2d(y, indices, kernel, stride, padding, output_size=(g.h, g.w)),)

    overlapping = g.sh < g.kh or g.sw < g.kw
    return [
        OpCase("ops", "max_pool2d forward", workload, flops.maxpool_forward(g), build,
               forward_ours, forward_theirs, params=params),
        OpCase("ops", "max_pool2d backward", workload, flops.maxpool_scatter(g), build,
               backward_ours, backward_theirs, params=params),
        OpCase("ops", "max_unpool2d", workload, flops.maxpool_scatter(g), build, unpool_ours,
               None if overlapping else unpool_theirs, params=params,
               torch_note="windows overlap: PyTorch's max_unpool2d keeps one value where two windows "
                          "chose the same pixel, minicnn adds them (README, Conventions)"),
    ]


# ----- LRN and cross-entropy ------------------------------------------------------------------

def lrn_cases(label, shape, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """local_response_norm forward and backward (AlexNet's constants by default)."""
    params = {"x": shape, "size": size, "alpha": alpha, "beta": beta, "k": k}
    workload = f"{label}: x {shape}, size {size}"

    def build(rng):
        return {"x": random_array(rng, shape), "grad": random_array(rng, shape)}

    def forward_ours(target, a):
        x = tensor(target.put(a["x"]))
        return lambda: (F.local_response_norm(x, size, alpha, beta, k),)

    def forward_theirs(target, a):
        torch, tF = torch_functional()
        x = target.put(a["x"])

        def run():
            with torch.no_grad():
                return (tF.local_response_norm(x, size, alpha, beta, k),)
        return run

    def backward_ours(target, a):
        x = tensor(target.put(a["x"]), requires_grad=True)
        return backward_call(F.local_response_norm(x, size, alpha, beta, k), (x,), target.put(a["grad"]))

    def backward_theirs(target, a):
        torch, tF = torch_functional()
        x = target.put(a["x"], requires_grad=True)
        y, grad = tF.local_response_norm(x, size, alpha, beta, k), target.put(a["grad"])
        return lambda: torch.autograd.grad(y, x, grad, retain_graph=True)

    return [
        OpCase("ops", "lrn forward", workload, flops.lrn_forward(shape, size), build,
               forward_ours, forward_theirs, params=params),
        OpCase("ops", "lrn backward", workload, flops.lrn_backward(shape, size), build,
               backward_ours, backward_theirs, params=params),
    ]


def cross_entropy_cases(n, classes):
    """Softmax cross-entropy of (N, K) logits, forward and backward (the gradient on the logits)."""
    params = {"logits": (n, classes)}
    workload = f"logits ({n}, {classes})"

    def build(rng):
        return {"z": random_array(rng, (n, classes)) * numpy.float32(3.0),
                "labels": rng.integers(0, classes, n).astype(numpy.int64)}

    def forward_ours(target, a):
        z, labels = tensor(target.put(a["z"])), target.put(a["labels"])
        return lambda: (F.cross_entropy(z, labels),)

    def forward_theirs(target, a):
        torch, tF = torch_functional()
        z, labels = target.put(a["z"]), target.put(a["labels"])

        def run():
            with torch.no_grad():
                return (tF.cross_entropy(z, labels),)
        return run

    def backward_ours(target, a):
        z = tensor(target.put(a["z"]), requires_grad=True)
        return backward_call(F.cross_entropy(z, target.put(a["labels"])), (z,))

    def backward_theirs(target, a):
        torch, tF = torch_functional()
        z = target.put(a["z"], requires_grad=True)
        loss = tF.cross_entropy(z, target.put(a["labels"]))
        return lambda: torch.autograd.grad(loss, z, retain_graph=True)

    return [
        OpCase("ops", "cross_entropy forward", workload, flops.cross_entropy_forward(n, classes),
               build, forward_ours, forward_theirs, params=params),
        OpCase("ops", "cross_entropy backward", workload, flops.cross_entropy_backward(n, classes),
               build, backward_ours, backward_theirs, params=params),
    ]


# ----- the suite -------------------------------------------------------------------------------------

def conv_layers(quick):
    """The three convolution workloads, (label, ConvGeometry); tiny with quick."""
    if quick:
        return [("MNIST conv1", ConvGeometry(4, 1, 28, 28, 8, 3, 3)),
                ("mid conv", ConvGeometry(4, 8, 13, 13, 16, 3, 3)),
                ("ZFNet conv1 (64x64)", ConvGeometry(1, 3, 64, 64, 16, 7, 7, 2, 2, 1, 1))]
    return [("MNIST conv1", ConvGeometry(128, 1, 28, 28, 32, 3, 3)),
            ("mid conv", ConvGeometry(128, 32, 13, 13, 64, 3, 3)),
            ("ZFNet conv1", ConvGeometry(32, 3, 224, 224, 96, 7, 7, 2, 2, 1, 1))]


def cases(quick):
    """Every op case, grouped by op (so the log and the tables read op by op)."""
    n_keras, n_zfnet = (4, 1) if quick else (128, 32)
    keras_pool = ConvGeometry(n_keras, 8 if quick else 32, 26, 26, 8 if quick else 32, 2, 2, 2, 2)
    zfnet_size = 30 if quick else 110
    zfnet_pool = ConvGeometry(n_zfnet, 16 if quick else 96, zfnet_size, zfnet_size,
                              16 if quick else 96, 3, 3, 2, 2, ceil_mode=True)
    conv = [case for label, g in conv_layers(quick) for case in conv_cases(label, g)]
    pool = pool_cases("keras pool", keras_pool) + pool_cases("ZFNet pool1", zfnet_pool)
    lrn = (lrn_cases("zfnet_small LRN1", (n_keras, 8 if quick else 32, 14, 14))
           + lrn_cases("ZFNet LRN1", (n_zfnet, 16 if quick else 96, 15 if quick else 55,
                                      15 if quick else 55)))
    n_logits = 16 if quick else 128
    loss = cross_entropy_cases(n_logits, 10) + cross_entropy_cases(n_logits, 100 if quick else 1000)
    everything = conv + pool + lrn + loss
    order = []
    for case in everything:
        if case.name not in order:
            order.append(case.name)
    return sorted(everything, key=lambda case: order.index(case.name))
