"""The hot loops of a convnet, one file per family, and which version runs them.

    im2col_col2im.py   im2col, col2im: windows as columns and back (convolution, pooling),
                       dilated windows included
    pooling.py         maxpool_forward (with switches, dilated windows included),
                       maxpool_scatter, maxpool_gather
    lrn.py             lrn_forward, lrn_backward (AlexNet 3.3)
    relu.py            relu_forward, relu_backward
    conv_layout.py     rows_to_images_plus_bias, images_to_rows, images_to_rows_and_sums:
                       the convolution's matrix layout and its images
    convolution.py     the numba backend's conv2d, forward and backward, a few images
                       at a time (its reference: functional/conv.py's whole-batch formulas)
    winograd.py        the numba backend's 3x3, stride-1 conv2d with 2.25 times fewer
                       multiply-adds: Winograd's F(2x2, 3x3), forward and backward
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
"""

from dataclasses import dataclass

from .. import threads
from ..backend import get_backend, is_cupy_array
from . import conv_layout, convolution, im2col_col2im, lrn, pooling, relu, winograd
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
# 32 ZFNet). The figures, and how much they move from run to run, are in
# benchmarks/results/kernels-cpu.md (python3 benchmarks/kernels.py
# re-measures them); compiled.py and the family files say why loops win.
#
# Except ReLU on small arrays: one comparison per element, and for a few
# thousand elements calling a compiled loop costs more than NumPy's two
# passes. Timed alone on a 2-core machine (2026-11-30), reference / twin,
# forward and backward: 2,048 elements 2.9 / 3.3 and 1.3 / 3.3 us; 8,192:
# 5.5 / 3.9 and 2.4 / 3.8 us; 65,536: 30 / 10 and 16 / 10 us; 700,000:
# 298 / 129 and 154 / 125 us. (Before the loops counted in unsigned
# integers, see compiled.py, they were not vectorised and lost at every
# size.)
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

def _numba_numpy(x):
    return get_backend() == "numba" and not is_cupy_array(x) and x.size > 0


def convolution_in_chunks(x, weight, groups):
    """Whether conv2d runs whole in chunks of images (``conv2d_forward_chunks`` and
    ``conv2d_backward_chunks``) for input x and weight (F, C/G, KH, KW): on the "numba"
    backend, for NumPy arrays, one group, fewer than CHUNKS_BELOW_ROWS rows C*KH*KW, and
    where minicnn can give each of its threads a BLAS thread of its own. Why:
    kernels/convolution.py."""
    rows = weight.shape[1] * weight.shape[2] * weight.shape[3]
    return (_numba_numpy(x) and groups == 1 and rows < convolution.CHUNKS_BELOW_ROWS
            and threads.blas_control())


def convolution_by_winograd(x, weight, stride, padding, dilation, groups):
    """Whether conv2d computes this layer by Winograd's F(2x2, 3x3) (``conv2d_winograd_forward``
    and ``conv2d_winograd_backward``): on the "numba" backend, for float NumPy arrays, a 3x3
    filter with stride 1, dilation 1 and one group, any padding; at least CHUNKS_BELOW_ROWS
    rows C*KH*KW (a first layer runs in chunks instead); and where minicnn can give each of
    its threads a BLAS thread of its own; and where it pays (``winograd.pays``). Why:
    kernels/winograd.py."""
    rows = weight.shape[1] * weight.shape[2] * weight.shape[3]
    return (_numba_numpy(x) and groups == 1 and tuple(weight.shape[2:]) == (3, 3)
            and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and x.dtype.kind == "f" and x.dtype.itemsize >= 4
            and rows >= convolution.CHUNKS_BELOW_ROWS
            and winograd.pays(x.shape, weight.shape[0], padding) and threads.blas_control())


def conv2d_winograd_forward(x, weight, bias, padding, out):
    return winograd.winograd_forward_numba(x, weight, bias, padding, out)


def conv2d_winograd_backward(grad_y, saved, input_shape, padding, needs_x, needs_weight, needs_bias):
    return winograd.winograd_backward_numba(grad_y, saved, input_shape, padding, needs_x,
                                            needs_weight, needs_bias)


def input_gradient_in_chunks(g, groups):
    """Whether conv2d_input_gradient computes col2im(W^T @ g) in chunks of images."""
    return _numba_numpy(g) and groups == 1 and threads.blas_control()


def conv2d_forward_chunks(x, weight, bias, stride, padding, dilation, out):
    return convolution.conv2d_forward_numba(x, weight, bias, stride, padding, dilation, out)


def conv2d_backward_chunks(grad_y, x, weight, stride, padding, dilation, needs_x, needs_weight,
                           needs_bias):
    return convolution.conv2d_backward_numba(grad_y, x, weight, stride, padding, dilation,
                                             needs_x, needs_weight, needs_bias)


def conv2d_max_pool_forward_chunks(x, weight, bias, stride, padding, dilation, out, pool):
    return convolution.conv2d_max_pool_forward_numba(x, weight, bias, stride, padding, dilation,
                                                     out, pool)


def conv2d_max_pool_backward_chunks(grad_pooled, switches, x, weight, stride, padding, dilation, out,
                                    needs_x, needs_weight, needs_bias):
    return convolution.conv2d_max_pool_backward_numba(grad_pooled, switches, x, weight, stride,
                                                      padding, dilation, out, needs_x, needs_weight,
                                                      needs_bias)


def conv2d_input_gradient_chunks(g, weight, input_shape, stride, padding, dilation, out):
    return convolution.input_gradient_numba(g, weight, input_shape, stride, padding, dilation, out)


def matmul(a, b):
    """a @ b for 2-D arrays (M, K) and (K, N) -> (M, N).

    On the "numba" backend NumPy arrays are multiplied on minicnn's own
    threads (``threads.matmul``: the output in one block per thread, NumPy's
    BLAS on each), so that the BLAS library's thread pool is never woken and
    never polls while the loops run (minicnn/engine/threads.py says why).
    Elsewhere it is plain ``a @ b``.
    """
    if get_backend() == "numba" and not is_cupy_array(a):
        return threads.matmul(a, b)
    return a @ b


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
