"""How the cost grows with the work: one convolution layer, forward and backward.

The layer: 32 -> 64 channels, 3x3 filters, stride 1, padding 1 (the size is
kept: OH = H), as in the middle of a small convnet. Two sweeps:

    batch size  N = 16, 32, 64, 128, 256 at 28x28
    image size  H = W = 28, 42, 56, 84, 112 at N = 16

Both multiply the work, 6 * N*F*H*W*C*KH*KW FLOPs (forward, then the input
and weight gradients), by the same factor per step, but not in the same way:
a bigger batch adds independent images, a bigger image makes each GEMM
longer and each im2col copy larger. Plotted against FLOPs (plots.py) the
points of an engine that is compute-bound fall on a line of slope 1 at its
GFLOP/s; overheads show as a flattening at the small end, memory traffic as
a steeper rise at the large end.
"""

import numpy

from ..engine import functional as F
from ..engine.tensor import tensor
from . import flops
from .flops import ConvGeometry
from .suite_ops import OpCase, random_array, torch_functional

CHANNELS, FILTERS, KERNEL = 32, 64, 3


def conv_step_case(sweep, value, g):
    """conv2d forward + backward on the layer ``g``, as one timed call."""
    x_shape, w_shape = (g.n, g.c, g.h, g.w), (g.f, g.c, g.kh, g.kw)
    forward, backward = flops.conv2d_forward(g), flops.conv2d_backward(g)
    work = flops.Work(forward.flops + backward.flops, forward.bytes + backward.bytes,
                      "6*N*F*OH*OW*C*KH*KW (forward, input grad, weight grad)")

    def build(rng):
        return {"x": random_array(rng, x_shape), "w": random_array(rng, w_shape) * numpy.float32(0.1),
                "grad": random_array(rng, (g.n, g.f, g.oh, g.ow))}

    def ours(target, a):
        x = tensor(target.put(a["x"]), requires_grad=True)
        w = tensor(target.put(a["w"]), requires_grad=True)
        grad = target.put(a["grad"])

        def run():
            x.grad = w.grad = None
            y = F.conv2d(x, w, None, 1, 1)
            y.backward(grad)
            return y, x.grad, w.grad
        return run

    def theirs(target, a):
        torch, tF = torch_functional()
        x, w = target.put(a["x"], requires_grad=True), target.put(a["w"], requires_grad=True)
        grad = target.put(a["grad"])

        def run():
            y = tF.conv2d(x, w, None, 1, 1)
            return (y, *torch.autograd.grad(y, (x, w), grad))
        return run

    workload = f"{sweep} {value}: x {x_shape}, {g.f} filters 3x3 pad 1"
    params = {"sweep": sweep, "value": value, "x": x_shape, "weight": w_shape, "padding": (1, 1)}
    return OpCase("scaling", "conv2d forward+backward", workload, work, build, ours, theirs,
                  params=params)


def cases(quick):
    channels, filters = (8, 16) if quick else (CHANNELS, FILTERS)
    batches, batch_size = ((2, 4, 8), 14) if quick else ((16, 32, 64, 128, 256), 28)
    sizes, size_batch = ((8, 14, 20), 2) if quick else ((28, 42, 56, 84, 112), 16)
    chosen = []
    for n in batches:
        chosen.append(conv_step_case("batch", n, ConvGeometry(n, channels, batch_size, batch_size,
                                                              filters, KERNEL, KERNEL, ph=1, pw=1)))
    for size in sizes:
        chosen.append(conv_step_case("image size", size, ConvGeometry(size_batch, channels, size, size,
                                                                      filters, KERNEL, KERNEL, ph=1, pw=1)))
    return chosen
