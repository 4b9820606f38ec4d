"""The hot loops of a convnet, one file per family, and which version runs them.

    im2col_col2im.py   im2col, col2im: windows as columns and back (convolution, pooling),
                       dilated windows included
    pooling.py         maxpool_forward (with switches, dilated windows included),
                       maxpool_scatter, maxpool_gather
    lrn.py             lrn_forward, lrn_backward (AlexNet 3.3)
    relu.py            relu_forward, relu_backward
    conv_layout.py     rows_to_images_plus_bias, images_to_rows, images_to_rows_and_sums:
                       the convolution's matrix layout and its images
    products.py        matmul, a @ b (its twin: split on minicnn's threads, threads.py)
    compiled.py        what the fast twins share: Numba and numba.cuda, set up once;
                       share_out, which splits a loop's items among minicnn's threads

Each family file holds the plain-array reference of each kernel first (read
that one to learn), then its Numba twin ``<name>_numba`` (compiled CPU
loops), then its CUDA twin ``<name>_cuda`` (GPU kernels) where there is one.
Every twin gives its reference's numbers; tests/test_kernels.py checks each.
The windowed twins take every setting their reference takes (kernel,
stride, padding, dilation), so the table below holds for every geometry:
no setting sends a call back to the reference.

Ops call the functions at the bottom of this file (``kernels.im2col(...)``),
never a twin, and never ask which backend is active. ``KERNELS`` below is
the one place that records which twins exist and when each one runs;
``_pick`` reads it and nothing else decides.

One level up, a whole op can be computed another way (Winograd's
convolution, a convolution a few images at a time, a convolution fused with
its max-pool, LRN's power 3/4 by square roots): those are *routes*, in
routes.py beside this file, with their own table, ``ROUTES``, and their
loops in convolution.py, winograd.py, direct_pool.py, pooled_product.py,
switch_gradients.py and lrn_square_roots.py.
"""

from dataclasses import dataclass

from .. import threads
from ..backend import get_backend, is_cupy_array
from . import conv_layout, im2col_col2im, lrn, pooling, products, relu
from .compiled import cuda_reason


@dataclass(frozen=True)
class Kernel:
    """One hot loop: its reference, its twins, and when each twin runs.

    reference:        the plain-array version (NumPy or CuPy), run whenever no twin does
    numba:            the Numba twin, or None
    numba_from_size:  on the "numba" backend the Numba twin runs for NumPy arrays of at
                      least this many elements (in the first argument); None: never
    cuda:             the CUDA twin, or None
    cuda_used:        whether the CUDA twin runs for CuPy arrays (if not, the reference
                      runs, on CuPy)
    """

    reference: object
    numba: object = None
    numba_from_size: int | None = None
    cuda: object = None
    cuda_used: bool = False


# On the "numba" backend every Numba twin runs: each measured faster than its
# reference at the sizes of the zoo's networks (batch 128 keras-MNIST, batch
# 32 ZFNet): benchmarks/results/kernels-cpu.md, re-measured by
# python3 benchmarks/kernels.py; compiled.py and the family files say why
# loops win.
#
# Except ReLU on small arrays: one comparison per element, and for a few
# thousand elements calling a compiled loop (and waking minicnn's threads)
# costs more than NumPy's two passes; from RELU_NUMBA_FROM_SIZE elements on,
# the loop's single pass wins (the sizes timed: benchmarks/README.md,
# "Figures moved from the engine's comments"; the zoo's size:
# benchmarks/results/kernels-cpu.md).
RELU_NUMBA_FROM_SIZE = 2**15

# For CuPy arrays a CUDA twin runs only where the reference is slow on CuPy
# too. Each numba.cuda launch first spends a fixed time in Python (typing the
# arguments, wrapping each CuPy array), longer than these kernels take on the
# GPU at the zoo's sizes; the twins that win despite that are maxpool_forward
# (the reference's argmax runs along a strided axis), im2col (at ZFNet's
# sizes; even at keras-MNIST's), maxpool_scatter and lrn_forward. col2im,
# maxpool_gather and lrn_backward have twins, tested against their
# references, that were not faster, so the references run. Measured on one
# GPU only, an H100: see the CUDA table of benchmarks/results/kernels-cpu.md;
# re-measure on yours.
KERNELS = {
    "im2col": Kernel(im2col_col2im.im2col,
                     numba=im2col_col2im.im2col_numba, numba_from_size=0,
                     cuda=im2col_col2im.im2col_cuda, cuda_used=True),
    "col2im": Kernel(im2col_col2im.col2im,
                     numba=im2col_col2im.col2im_numba, numba_from_size=0,
                     cuda=im2col_col2im.col2im_cuda, cuda_used=False),
    "maxpool_forward": Kernel(pooling.maxpool_forward,
                              numba=pooling.maxpool_forward_numba, numba_from_size=0,
                              cuda=pooling.maxpool_forward_cuda, cuda_used=True),
    "maxpool_scatter": Kernel(pooling.maxpool_scatter,
                              numba=pooling.maxpool_scatter_numba, numba_from_size=0,
                              cuda=pooling.maxpool_scatter_cuda, cuda_used=True),
    "maxpool_gather": Kernel(pooling.maxpool_gather,
                             numba=pooling.maxpool_gather_numba, numba_from_size=0,
                             cuda=pooling.maxpool_gather_cuda, cuda_used=False),
    "lrn_forward": Kernel(lrn.lrn_forward,
                          numba=lrn.lrn_forward_numba, numba_from_size=0,
                          cuda=lrn.lrn_forward_cuda, cuda_used=True),
    "lrn_backward": Kernel(lrn.lrn_backward,
                           numba=lrn.lrn_backward_numba, numba_from_size=0,
                           cuda=lrn.lrn_backward_cuda, cuda_used=False),
    "relu_forward": Kernel(relu.relu_forward,
                           numba=relu.relu_forward_numba, numba_from_size=RELU_NUMBA_FROM_SIZE),
    "relu_backward": Kernel(relu.relu_backward,
                            numba=relu.relu_backward_numba, numba_from_size=RELU_NUMBA_FROM_SIZE),
    "rows_to_images_plus_bias": Kernel(conv_layout.rows_to_images_plus_bias,
                                       numba=conv_layout.rows_to_images_plus_bias_numba,
                                       numba_from_size=0),
    "images_to_rows": Kernel(conv_layout.images_to_rows,
                             numba=conv_layout.images_to_rows_numba, numba_from_size=0),
    "images_to_rows_and_sums": Kernel(conv_layout.images_to_rows_and_sums,
                                      numba=conv_layout.images_to_rows_and_sums_numba,
                                      numba_from_size=0),
    "matmul": Kernel(products.matmul, numba=products.matmul_numba, numba_from_size=0),
}

NAMES = tuple(KERNELS)


def _pick(name, array):
    """The version of kernel ``name`` that runs for ``array``, its first argument."""
    kernel = KERNELS[name]
    if is_cupy_array(array):
        if kernel.cuda_used and not cuda_reason():
            return kernel.cuda
    elif (get_backend() == "numba" and kernel.numba_from_size is not None
          and array.size >= kernel.numba_from_size):
        return kernel.numba
    return kernel.reference


# ----- what the ops call ----------------------------------------------------------------------
# One line each: the version _pick chooses, called with the op's arguments.

def matmul(a, b):
    return _pick("matmul", a)(a, b)


def im2col(x, kernel, stride, padding, out, pad_value=0.0, dilation=(1, 1)):
    return _pick("im2col", x)(x, kernel, stride, padding, out, pad_value, dilation)


def col2im(cols, input_shape, kernel, stride, padding, dilation=(1, 1)):
    return _pick("col2im", cols)(cols, input_shape, kernel, stride, padding, dilation)


def maxpool_forward(x, kernel, stride, padding, out, dilation=(1, 1)):
    return _pick("maxpool_forward", x)(x, kernel, stride, padding, out, dilation)


def maxpool_scatter(values, switches, input_shape):
    return _pick("maxpool_scatter", values)(values, switches, input_shape)


def maxpool_gather(x, switches):
    return _pick("maxpool_gather", x)(x, switches)


def lrn_forward(x, size, alpha, beta, k):
    return _pick("lrn_forward", x)(x, size, alpha, beta, k)


def lrn_backward(grad_y, x, y, scale, size, alpha, beta):
    return _pick("lrn_backward", grad_y)(grad_y, x, y, scale, size, alpha, beta)


def relu_forward(x):
    return _pick("relu_forward", x)(x)


def relu_backward(grad_y, positive):
    return _pick("relu_backward", grad_y)(grad_y, positive)


def rows_to_images_plus_bias(rows, batch, bias=None):
    return _pick("rows_to_images_plus_bias", rows)(rows, batch, bias)


def images_to_rows(images):
    return _pick("images_to_rows", images)(images)


def images_to_rows_and_sums(images):
    return _pick("images_to_rows_and_sums", images)(images)
