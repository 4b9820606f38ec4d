"""How much work each benchmark case is: FLOPs and bytes, formula by formula.

A FLOP is one floating-point addition, multiplication, comparison, exp, log
or power, counted from the formulas in minicnn's docstrings. A multiply-add
counts as 2 (the GEMM convention: a (M, K) by (K, P) matrix product is
2*M*K*P FLOPs). For convolutions and dense layers only the matrix products
are counted, as profilers do; the bias, col2im's additions and ReLU add less
than 1% on every workload here.

Bytes are the least memory traffic an op needs: each input read once and
each output written once (float32: 4 bytes; switches: int64, 8 bytes).
Real code moves more (im2col writes KH*KW copies of the input): the
achieved GB/s against the machine's copy bandwidth shows by how much.

Notation as everywhere in minicnn: x (N, C, H, W); filters (F, C, KH, KW);
output (OH, OW) with OH = (H - KH + 2*PH) // SH + 1.

Every function returns a ``Work``: flops, bytes, and the formula as text,
which goes into the JSON and the Markdown next to the figures.
"""

from dataclasses import dataclass

from ..engine import nn
from ..engine.shapes import conv_output_size

FLOAT32, INT64 = 4, 8


@dataclass(frozen=True)
class Work:
    flops: int
    bytes: int
    formula: str


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution (or pooling) layer: x (N, C, H, W), windows KH x KW."""

    n: int
    c: int
    h: int
    w: int
    f: int            # filters; for pooling, equal to c
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    ph: int = 0
    pw: int = 0
    ceil_mode: bool = False

    @property
    def oh(self):
        return conv_output_size(self.h, self.kh, self.sh, self.ph, self.ceil_mode)

    @property
    def ow(self):
        return conv_output_size(self.w, self.kw, self.sw, self.pw, self.ceil_mode)

    @property
    def x_size(self):
        return self.n * self.c * self.h * self.w

    @property
    def y_size(self):
        return self.n * self.f * self.oh * self.ow

    @property
    def cols_size(self):
        """Entries of im2col's output, N * C*KH*KW * OH*OW."""
        return self.n * self.c * self.kh * self.kw * self.oh * self.ow

    @property
    def macs(self):
        """Multiply-adds of the convolution: N*F*OH*OW*C*KH*KW."""
        return self.n * self.f * self.oh * self.ow * self.c * self.kh * self.kw


# ----- convolution ------------------------------------------------------------

def conv2d_forward(g):
    """y = w.reshape(F, K) @ cols: one GEMM of 2 * (F) * (K = C*KH*KW) * (N*OH*OW)."""
    weight_size = g.f * g.c * g.kh * g.kw
    return Work(2 * g.macs, FLOAT32 * (g.x_size + weight_size + g.y_size),
                "2*N*F*OH*OW*C*KH*KW")


def conv2d_backward(g):
    """dL/dx: w^T @ grad (then col2im); dL/dw: grad @ cols^T. Two GEMMs of forward's size."""
    weight_size = g.f * g.c * g.kh * g.kw
    return Work(4 * g.macs, FLOAT32 * (g.y_size + g.x_size + weight_size          # read grad, x, w
                                       + g.x_size + weight_size),                 # write dL/dx, dL/dw
                "2*N*F*OH*OW*C*KH*KW (input grad) + 2*N*F*OH*OW*C*KH*KW (weight grad)")


def im2col(g):
    """A copy: no arithmetic. Reads x, writes the N*C*KH*KW*OH*OW columns."""
    return Work(0, FLOAT32 * (g.x_size + g.cols_size), "0 (a copy)")


def col2im(g):
    """Every column entry is added to its pixel: one addition per entry."""
    return Work(g.cols_size, FLOAT32 * (g.cols_size + g.x_size), "N*C*KH*KW*OH*OW")


# ----- max pooling and unpooling -------------------------------------------------

def maxpool_forward(g):
    """KH*KW - 1 comparisons per window; writes the maxima and the int64 switches."""
    windows = g.n * g.c * g.oh * g.ow
    return Work(windows * (g.kh * g.kw - 1),
                FLOAT32 * g.x_size + (FLOAT32 + INT64) * windows,
                "N*C*OH*OW*(KH*KW-1)")


def maxpool_scatter(g):
    """Backward of pooling, and unpooling: one addition per window into its switch pixel."""
    windows = g.n * g.c * g.oh * g.ow
    return Work(windows, (FLOAT32 + INT64) * windows + FLOAT32 * g.x_size, "N*C*OH*OW")


# ----- local response normalization ----------------------------------------------

def lrn_forward(shape, size):
    """Per value: x^2 (1), window sum (size - 1), k + alpha/n * s (2), s^-beta (1), x * (1)."""
    n, c, h, w = shape
    values = n * c * h * w
    return Work(values * (size + 4), FLOAT32 * 3 * values, f"N*C*H*W*(size+4), size={size}")


def lrn_backward(shape, size):
    """Per value: g*y/scale (2), mirrored window sum (size - 1), g*scale^-beta (2),
    coefficient*x*sum (2), the subtraction (1)."""
    n, c, h, w = shape
    values = n * c * h * w
    return Work(values * (size + 6), FLOAT32 * 5 * values, f"N*C*H*W*(size+6), size={size}")


# ----- softmax cross-entropy ------------------------------------------------------

def cross_entropy_forward(n, classes):
    """Per row of K logits: max (K-1), z - max (K), exp (K), sum (K-1), log (1),
    shifted - log-sum (K): about 5K; then the mean of N picked values (N)."""
    return Work(5 * n * classes + n, FLOAT32 * n * classes + INT64 * n, "5*N*K + N")


def cross_entropy_backward(n, classes):
    """(softmax(z) - onehot) / N: exp (K), subtract 1 at the target (1), scale (K) per row."""
    return Work(2 * n * classes + n, FLOAT32 * 2 * n * classes + INT64 * n, "2*N*K + N")


# ----- whole networks ------------------------------------------------------------------

def network(model, input_shape, batch, what):
    """GEMM FLOPs of a Sequential of minicnn layers for a batch of ``input_shape`` (C, H, W).

    what = "forward":          2 * multiply-adds (MACs) of every conv and dense layer
                               (a grouped convolution: F*OH*OW*(C/groups)*KH*KW)
    what = "forward+backward": plus weight gradients (the same again) and input
                               gradients (the same again) for every layer but the
                               first, whose input, the images, needs no gradient
    what = "train step":       plus SGD with momentum, v = m*v + g, p -= lr*v:
                               4 FLOPs per parameter
    Pooling, ReLU, LRN, dropout and the loss are left out (a few % at most).
    """
    if what not in ("forward", "forward+backward", "train step"):
        raise ValueError(f"network: what must be 'forward', 'forward+backward' or 'train step', got {what!r}")
    shape, macs_total, first_layer_macs = tuple(input_shape), 0, None
    for layer in model:
        out = layer.output_shape(shape)
        macs = 0
        if isinstance(layer, nn.Conv2d):     # each filter sees the C/groups channels of its group
            macs = (out[0] * out[1] * out[2] * (shape[0] // layer.groups)
                    * layer.kernel_size[0] * layer.kernel_size[1])
        elif isinstance(layer, nn.Linear):
            macs = layer.in_features * layer.out_features
        if macs and first_layer_macs is None:
            first_layer_macs = macs
        macs_total += macs
        shape = out
    forward = 2 * batch * macs_total
    if what == "forward":
        return Work(forward, 0, "2*N*MACs")
    backward = 4 * batch * macs_total - 2 * batch * first_layer_macs
    if what == "forward+backward":
        return Work(forward + backward, 0, "2*N*MACs + 4*N*MACs - 2*N*MACs(first layer)")
    parameters = sum(p.size for p in model.parameters())
    return Work(forward + backward + 4 * parameters, 0,
                "2*N*MACs + 4*N*MACs - 2*N*MACs(first layer) + 4*parameters")
