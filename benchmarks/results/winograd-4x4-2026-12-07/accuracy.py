"""How far F(4x4, 3x3), F(2x2, 3x3) and im2col are from the exact convolution in float32:
largest error of the output and of each gradient, relative to the largest exact value (the
float64 im2col result), at the sizes of zfnet_small's layers, batch 32, weights ~ N(0, 0.05^2).

    python benchmarks/results/winograd-4x4-2026-12-07/accuracy.py
"""

import numpy

from minicnn.engine import functional as F
from minicnn.engine.backend import using_backend
from minicnn.engine.kernels import winograd, winograd_4x4
from minicnn.engine.tensor import tensor


def im2col(x, weight, bias, grad_y):
    """y, dL/dx, dL/dw, dL/db by functional/conv.py's formulas (numpy backend)."""
    with using_backend("numpy"):
        xt, wt, bt = (tensor(a, requires_grad=True) for a in (x, weight, bias))
        y = F.conv2d(xt, wt, bt, padding=(1, 1))
        y.backward(grad_y)
    return y.data, xt.grad, wt.grad, bt.grad


for channels, size in ((96, 7), (32, 14)):
    rng = numpy.random.default_rng(2)
    x = rng.standard_normal((32, channels, size, size))
    weight = rng.standard_normal((96, channels, 3, 3)) * 0.05
    bias, grad_y = rng.standard_normal(96), rng.standard_normal((32, 96, size, size))
    exact = im2col(x, weight, bias, grad_y)
    single = [a.astype(numpy.float32) for a in (x, weight, bias, grad_y)]
    results = {"im2col": im2col(*single)}
    with using_backend("numba"):
        for name, module, forward, backward in (
                ("F(2x2)", winograd, winograd.winograd_forward_numba, winograd.winograd_backward_numba),
                ("F(4x4)", winograd_4x4, winograd_4x4.winograd_4x4_forward_numba,
                 winograd_4x4.winograd_4x4_backward_numba)):
            y, saved = forward(*single[:3], (1, 1), (size, size))
            results[name] = (y,) + backward(single[3], saved, x.shape, (1, 1), True, True, True)
    for index, part in enumerate(("y", "dL/dx", "dL/dw", "dL/db")):
        scale = numpy.abs(exact[index]).max()
        errors = {name: numpy.abs(got[index] - exact[index]).max() / scale for name, got in results.items()}
        print(f"C={channels} {size}x{size} {part}: " + ", ".join(f"{name} {e:.1e}" for name, e in errors.items())
              + f"; F(4x4) / im2col {errors['F(4x4)'] / errors['im2col']:.1f}")
