# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. im2col: convolution as one matrix multiply
#
# The definition of a convolution is six nested loops (image, filter,
# output row, output column, channel, filter tap). Written that way in
# Python it is hopelessly slow. The trick every fast CPU library has used:
# copy every window of the input into a column of a matrix ("image to
# columns", im2col); then all filters at all positions are one matrix
# product, which NumPy hands to an optimised BLAS routine. The backward
# pass needs the reverse copy, col2im, which adds columns back onto pixels.
#
# Where it lives in minicnn: `minicnn/engine/kernels/im2col_col2im.py` (`im2col`,
# `col2im`: the plain versions first, their compiled twins beneath),
# `minicnn/engine/functional/conv.py` (the forward and backward that use them).

# %%
from common import FAST, Stopwatch, savefig   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle


import minicnn as mc
from minicnn import functional as F
from minicnn.engine.kernels.im2col_col2im import col2im, im2col

mc.manual_seed(0)

# %% [markdown]
# ## Columns, on a 4x4 image
#
# One 4x4 image with one channel, numbered 0..15 so we can follow each
# pixel, and a 2x2 window with stride 1: (4 - 2)/1 + 1 = 3 positions per
# side, 9 windows in all. `im2col` returns an array of shape
# (C, KH, KW, N, OH, OW): entry `[c, i, j, n, oy, ox]` is the pixel of image
# n under tap (i, j) of the window at output position (oy, ox). Reshaped to
# (C*KH*KW, N*OH*OW) = (4, 9), each column is one window, read row by row;
# with more images, their windows simply add more columns, which is why the
# batch axis sits next to the window positions.

# %%
x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
cols = im2col(x, kernel=(2, 2), stride=(1, 1), padding=(0, 0), out=(3, 3))
print("im2col shape:", cols.shape)
matrix = cols.reshape(4, 9)
print("as a (C*KH*KW, OH*OW) matrix, one window per column:\n", matrix.astype(int))
assert list(matrix[:, 0]) == [0, 1, 4, 5]            # the top-left window
assert list(matrix[:, 4]) == [5, 6, 9, 10]           # the centre window

# %% [markdown]
# Now the convolution is a matrix product: the filter, flattened to a row
# of KH*KW = 4 numbers, times the column matrix gives all 9 outputs at once.
# With F filters the row becomes an (F, C*KH*KW) matrix and the product an
# (F, OH*OW) one: every filter at every position in one call.

# %%
w = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(1, 1, 2, 2)   # pixel minus its lower-right neighbour
by_matmul = (w.reshape(1, 4) @ matrix).reshape(3, 3)
by_conv2d = F.conv2d(mc.tensor(x), mc.tensor(w)).numpy()[0, 0]
print("w_row @ cols, reshaped to 3x3:\n", by_matmul)
assert np.array_equal(by_matmul, by_conv2d)

# %% [markdown]
# The figure draws it step by step: each window of the input (top) becomes
# one column of the matrix (bottom left); one row-times-matrix product
# gives the output map (bottom right).

# %%
fig = plt.figure(figsize=(12, 5.5))
grid = fig.add_gridspec(2, 9, height_ratios=[1, 1.6], hspace=0.15)
colors = plt.cm.tab10.colors
for k in range(9):
    oy, ox = divmod(k, 3)
    ax = fig.add_subplot(grid[0, k])
    ax.imshow(np.zeros((4, 4)), cmap="Greys", vmin=0, vmax=1)
    for r in range(4):
        for c in range(4):
            ax.text(c, r, int(x[0, 0, r, c]), ha="center", va="center", fontsize=8)
    ax.add_patch(Rectangle((ox - 0.5, oy - 0.5), 2, 2, fill=False, edgecolor=colors[k], lw=2.5))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"window {k}\n(oy={oy}, ox={ox})", fontsize=8)

ax = fig.add_subplot(grid[1, :5])
ax.imshow(np.zeros_like(matrix), cmap="Greys", vmin=0, vmax=1, aspect="auto")
for row in range(4):
    for k in range(9):
        ax.text(k, row, int(matrix[row, k]), ha="center", va="center", fontsize=10, color=colors[k],
                weight="bold")
ax.set_xticks(range(9), [f"col {k}" for k in range(9)], fontsize=8)
ax.set_yticks(range(4), [f"tap ({i},{j})" for i in range(2) for j in range(2)], fontsize=8)
ax.set_title("cols: (C*KH*KW, OH*OW) = (4, 9), one window per column", fontsize=9)

ax = fig.add_subplot(grid[1, 5:])
ax.axis("off")
ax.text(0.0, 0.85, "w as a row:  [ 1  0  0  -1 ]", fontsize=10, family="monospace")
ax.text(0.0, 0.70, "w_row @ cols = 1x9 row, reshaped 3x3:", fontsize=10, family="monospace")
for r in range(3):
    ax.text(0.1, 0.52 - 0.12 * r, "  ".join(f"{v:>3g}" for v in by_matmul[r]), fontsize=11,
            family="monospace")
ax.text(0.0, 0.05, "(each pixel minus its lower-right neighbour;\n in this numbered image always -5)", fontsize=9)
fig.suptitle("im2col step by step: 4x4 input, 2x2 window, stride 1", fontsize=11)
savefig(fig, "03_im2col_steps.png")

# %% [markdown]
# ## How im2col is computed: loop over taps, not over windows
#
# Looping over the 9 windows would be slow for a real image (a 28x28 input
# has 676 windows of a 3x3 filter). minicnn's `im2col` loops over the KH*KW
# filter taps instead: tap (i, j) of every window is one strided slice of
# the padded input, `padded[:, :, i : i + SH*OH : SH, j : j + SW*OW : SW]`.
# So a 3x3 filter needs 9 slice copies, whatever the image size. Here is
# that slice for tap (1, 1) of our example: the bottom-right pixel of each
# window.

# %%
tap = x[0, 0, 1:1 + 3, 1:1 + 3]
print("tap (1, 1) of all nine windows:\n", tap.astype(int))
assert np.array_equal(tap, cols[0, 1, 1, 0])                  # cols[c, i, j, n]

# %% [markdown]
# ## Against loops
#
# Two direct implementations to compare with:
#
# * `naive_conv2d`: the definition, one Python iteration per output number
#   (image, filter, row, column), each a sum over the C*KH*KW window;
# * `loop_conv2d`: one Python iteration per output *position*; at each,
#   NumPy takes the dot products of the window with all filters for all
#   images at once.
#
# All three must give the same numbers. (Timings depend on your machine
# and on what else it is running; run the cell twice.)

# %%
def naive_conv2d(x, w, b, stride, padding):
    """The definition; x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) -> (N, F, OH, OW)."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h - kh + 2 * padding) // stride + 1
    ow = (width - kw + 2 * padding) // stride + 1
    y = np.empty((n, f, oh, ow), x.dtype)
    for image in range(n):
        for filt in range(f):
            for oy in range(oh):
                for ox in range(ow):
                    window = padded[image, :, oy * stride:oy * stride + kh, ox * stride:ox * stride + kw]
                    y[image, filt, oy, ox] = (window * w[filt]).sum() + b[filt]
    return y


def loop_conv2d(x, w, b, stride, padding):
    """One Python iteration per output position; NumPy does images and filters at once."""
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h - kh + 2 * padding) // stride + 1
    ow = (width - kw + 2 * padding) // stride + 1
    y = np.empty((n, f, oh, ow), x.dtype)
    for oy in range(oh):
        for ox in range(ow):
            window = padded[:, :, oy * stride:oy * stride + kh, ox * stride:ox * stride + kw]
            y[:, :, oy, ox] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


rng = np.random.default_rng(0)
batch, size, count = (2, 10, 4) if FAST else (8, 28, 16)
images = rng.standard_normal((batch, 16, size, size)).astype(np.float32)
filters = (rng.standard_normal((count, 16, 3, 3)) * 0.1).astype(np.float32)
biases = rng.standard_normal(count).astype(np.float32)

def im2col_conv2d(x, w, b, stride, padding):
    return F.conv2d(mc.tensor(x), mc.tensor(w), mc.tensor(b), stride, padding).numpy()


def best_time(function, repeats, *args):
    """Run ``function(*args)`` ``repeats`` times; return (result, fastest time in seconds)."""
    times = []
    for _ in range(repeats):
        with Stopwatch() as clock:
            result = function(*args)
        times.append(clock.seconds)
    return result, min(times)


for stride, padding in [(1, 1), (2, 0)]:
    results, timings = {}, {}
    for name, function, repeats in [("naive loop", naive_conv2d, 1), ("loop over positions", loop_conv2d, 3),
                                    ("im2col + matmul", im2col_conv2d, 3)]:
        results[name], timings[name] = best_time(function, repeats, images, filters, biases, stride, padding)
    print(f"stride {stride}, pad {padding}, output {results['naive loop'].shape}: "
          + ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in timings.items()))
    for name in ("naive loop", "loop over positions"):
        assert np.allclose(results["im2col + matmul"], results[name], atol=1e-4), name

# %% [markdown]
# The naive loop spends its time in the Python interpreter, one step per
# output number. The loop over positions hands the arithmetic to NumPy but
# still takes one Python step, and one small product, per output position
# (OH*OW of them). im2col takes KH*KW = 9 Python steps however large the
# image, and turns all the arithmetic into one large matrix product, the
# operation BLAS libraries (and GPUs) are best at. Lesson 13 measures where
# the time goes on each backend.

# %% [markdown]
# The price is memory: with stride 1 every pixel is copied into up to
# KH*KW columns. For this batch:

# %%
cols = im2col(images, (3, 3), (1, 1), (1, 1), (size, size))
print(f"input {images.nbytes / 1e6:.2f} MB -> columns {cols.nbytes / 1e6:.2f} MB "
      f"({cols.nbytes / images.nbytes:.0f}x, KH*KW = 9)")
assert cols.nbytes == 9 * images.nbytes

# %% [markdown]
# ## Backward: col2im
#
# With cols reshaped to (K, P) (K = C*KH*KW, P = N*OH*OW: every window of
# every image) and the filters to W: (F, K), the forward pass is
# Y = W @ cols. For the gradient G = dL/dY laid out as (F, P), the matrix
# rule gives
#
# * dL/dW = G @ cols^T, and dL/db = G summed over its columns;
# * dL/dcols = W^T @ G: a gradient for every copy of every pixel.
#
# A pixel that was copied into several columns influenced several outputs,
# so its gradient is the *sum* of the gradients of its copies. `col2im`
# does exactly that: it adds each column entry back onto the pixel it came
# from (and drops entries that fell on the zero padding). Adding ones back
# counts how many windows cover each pixel:

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, (kernel, stride, padding) in zip(axes, [(3, 1, 0), (3, 1, 1), (3, 2, 0)]):
    out = (7 - kernel + 2 * padding) // stride + 1
    ones = np.ones((1, kernel, kernel, 1, out, out))                 # (C, KH, KW, N, OH, OW)
    coverage = col2im(ones, (1, 1, 7, 7), (kernel, kernel), (stride, stride), (padding, padding))[0, 0]
    ax.imshow(coverage, cmap="viridis", vmin=0, vmax=9)
    for r in range(7):
        for c in range(7):
            ax.text(c, r, int(coverage[r, c]), ha="center", va="center", color="w", fontsize=9)
    ax.set_title(f"7x7, 3x3 window, stride {stride}, pad {padding}", fontsize=9)
    ax.axis("off")
    if (kernel, stride, padding) == (3, 1, 0):
        assert coverage[3, 3] == 9 and coverage[0, 0] == 1
    if (kernel, stride, padding) == (3, 1, 1):
        assert coverage[3, 3] == 9 and coverage[0, 0] == 4
fig.suptitle("col2im of all-ones columns: how many windows reuse each pixel "
             "(= how many gradient terms it sums)", fontsize=10)
savefig(fig, "03_col2im_coverage.png")

# %% [markdown]
# `col2im` is the *adjoint* of `im2col`: for any x and any cols array c,
# <im2col(x), c> = <x, col2im(c)>. That identity is what makes it the
# right backward pass, and it is easy to test:

# %%
x_test = rng.standard_normal((2, 3, 9, 8))
for kernel, stride, padding in [((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 1)), ((3, 2), (3, 2), (1, 0))]:
    out = tuple((x_test.shape[2 + a] - kernel[a] + 2 * padding[a]) // stride[a] + 1 for a in range(2))
    c = rng.standard_normal((3, *kernel, 2, *out))                  # (C, KH, KW, N, OH, OW)
    left = float((im2col(x_test, kernel, stride, padding, out) * c).sum())
    right = float((x_test * col2im(c, x_test.shape, kernel, stride, padding)).sum())
    print(f"kernel {kernel}, stride {stride}, pad {padding}: <im2col(x), c> = {left:.10f}, "
          f"<x, col2im(c)> = {right:.10f}")
    assert np.isclose(left, right)

# %% [markdown]
# Finally the whole backward pass of `conv2d`, from autograd, against the
# three formulas above written out by hand.

# %%
x_small = mc.tensor(rng.standard_normal((2, 3, 6, 5)), requires_grad=True)
w_small = mc.tensor(rng.standard_normal((4, 3, 3, 2)), requires_grad=True)
b_small = mc.tensor(rng.standard_normal(4), requires_grad=True)
stride, padding = (2, 1), (1, 0)
y = F.conv2d(x_small, w_small, b_small, stride, padding)
g = rng.standard_normal(y.shape)                                 # some dL/dy
y.backward(g)

n, fcount, oh, ow = y.shape
cols = im2col(x_small.data, (3, 2), stride, padding, (oh, ow)).reshape(3 * 3 * 2, n * oh * ow)  # (K, P)
g_flat = g.transpose(1, 0, 2, 3).reshape(fcount, n * oh * ow)                                # (F, P)
w_flat = w_small.data.reshape(fcount, -1)                                                     # (F, K)
grad_w = (g_flat @ cols.T).reshape(w_small.shape)
grad_b = g_flat.sum(axis=1)
grad_cols = (w_flat.T @ g_flat).reshape(3, 3, 2, n, oh, ow)                                  # (C, KH, KW, N, OH, OW)
grad_x = col2im(grad_cols, x_small.shape, (3, 2), stride, padding)
for name, by_hand, autograd in [("dL/dx", grad_x, x_small.grad), ("dL/dw", grad_w, w_small.grad),
                                ("dL/db", grad_b, b_small.grad)]:
    print(f"{name}: largest difference between the formula and autograd {np.abs(by_hand - autograd).max():.1e}")
    assert np.allclose(by_hand, autograd)

# and against numerical differentiation (lesson 4 explains gradcheck)
assert mc.gradcheck(lambda a, b, c: F.conv2d(a, b, c, stride, padding), x_small, w_small, b_small)
print("gradcheck: conv2d backward agrees with centred differences")

# %% [markdown]
# ## What to remember
#
# * im2col copies each window into a column; convolution is then one matrix
#   product of the (F, C*KH*KW) filters with the (C*KH*KW, OH*OW) columns;
# * computed as KH*KW strided slices, not one copy per window;
# * it costs up to KH*KW times the input's memory;
# * backward: dL/dW = G cols^T, dL/dcols = W^T G, and col2im adds the column
#   gradients back onto pixels (the adjoint of im2col).
#
# Next: how autograd chains such backward passes, and how to check them
# (`04_autograd_gradcheck.py`).
