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
# # 1. Convolution arithmetic
#
# Before any learning happens, a convolution layer is bookkeeping: how many
# positions a window can take, how many numbers come out, how many weights
# there are. This lesson works those out by hand, checks each against
# minicnn, and draws where the windows go.
#
# Where it lives in minicnn: `minicnn/engine/shapes.py` (the formula and its error
# messages), `minicnn/engine/nn/layers.py` (`Conv2d.output_shape`, parameter
# shapes), `minicnn/engine/functional/conv.py` (the convolution itself).

# %%
from common import FAST, savefig   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle


import minicnn as mc
from minicnn import nn, functional as F
from minicnn.engine.shapes import ShapeError, conv_output_size

mc.manual_seed(0)

# %% [markdown]
# ## The formula
#
# A window of size F slides over an input of size N that has P zeros added
# on each side, moving S pixels at a time. Its first position starts at the
# left edge; each further one is S further on, and it must still end inside
# the padded input, of size N + 2P. So there are
#
#     (N - F + 2P) / S + 1
#
# positions along that axis (CS231n lecture 5). The same count holds along
# the height, and for pooling windows too.
#
# The lecture's example: a 7x7 input and a 3x3 filter.

# %%
for stride in (1, 2):
    size = conv_output_size(7, 3, stride=stride)
    print(f"7x7 input, 3x3 filter, stride {stride}: output {size}x{size}   "
          f"(7 - 3)/{stride} + 1 = {(7 - 3) / stride + 1:g}")

assert conv_output_size(7, 3, stride=1) == 5
assert conv_output_size(7, 3, stride=2) == 3

# %% [markdown]
# With stride 3 the formula gives (7 - 3)/3 + 1 = 2.33: the windows do not
# tile the input. CS231n calls this a stride that "does not fit". minicnn
# says so when asked to be strict, quoting the fraction:

# %%
try:
    conv_output_size(7, 3, stride=3, strict=True)
    raise AssertionError("stride 3 on a 7-wide input should not fit")
except ShapeError as error:
    message = str(error)
    print("ShapeError:", message)
assert "2.33" in message

# %% [markdown]
# Without `strict`, minicnn does what every library does: it rounds down,
# keeps the 2 windows that fit and never looks at the last column. Run a
# real convolution to see the shapes the formula predicts.

# %%
x = mc.tensor(np.random.default_rng(0).standard_normal((1, 1, 7, 7)).astype(np.float32))
w = mc.tensor(np.ones((1, 1, 3, 3), np.float32))
for stride, padding in [(1, 0), (2, 0), (3, 0), (1, 1)]:
    y = F.conv2d(x, w, stride=stride, padding=padding)
    predicted = conv_output_size(7, 3, stride, padding)
    print(f"stride {stride}, pad {padding}: conv2d gives {y.shape[2]}x{y.shape[3]}, "
          f"formula (7 - 3 + 2*{padding})/{stride} + 1 -> {predicted}")
    assert y.shape == (1, 1, predicted, predicted)

# %% [markdown]
# ## Zero padding keeps the size
#
# With stride 1, padding P = (F - 1)/2 on each side makes the output as big
# as the input: 7x7 with a 3x3 filter and P = 1 gives 7x7 again
# (CS231n lecture 5). Without it, every layer would shave F - 1 pixels off
# the map, and a deep network would run out of image. The table shows the
# usual choices (F = 3 or 5, S = 1 or 2) on a 32-wide input.

# %%
print(" F  S  P   out   (32 - F + 2P)/S + 1")
for f in (3, 5):
    for s in (1, 2):
        for p in (0, (f - 1) // 2):
            out = conv_output_size(32, f, s, p)
            print(f"{f:>2} {s:>2} {p:>2}  {out:>4}   {(32 - f + 2 * p) / s + 1:g}")
assert conv_output_size(7, 3, 1, 1) == 7
assert conv_output_size(32, 5, 1, 2) == 32

# %% [markdown]
# ## Drawing the windows
#
# Along one row of the 7x7 input: where each 3x3 window starts and ends.
# With stride 3 the last column (red) is never inside any window. With
# padding (grey cells are zeros) the windows reach past the image edges.

# %%
def draw_windows(ax, n, f, stride, padding, title):
    """Draw an n x n input (plus padding) and the windows of the first row."""
    total = n + 2 * padding
    positions = (total - f) // stride + 1
    for r in range(total):
        for c in range(total):
            inside = padding <= r < padding + n and padding <= c < padding + n
            ax.add_patch(Rectangle((c, total - 1 - r), 1, 1, facecolor="white" if inside else "0.85",
                                   edgecolor="0.6", lw=0.5))
    covered = set()
    for k in range(positions):
        covered.update(range(k * stride, k * stride + f))
    for c in range(padding, padding + n):
        if c not in covered:
            for r in range(padding, padding + n):
                ax.add_patch(Rectangle((c, total - 1 - r), 1, 1, facecolor="#f4a6a6", edgecolor="0.6", lw=0.5))
    colors = plt.cm.tab10.colors
    for k in range(positions):
        inset = 0.08 + 0.1 * (k % 3)
        ax.add_patch(Rectangle((k * stride + inset, total - f + inset), f - 2 * inset, f - 2 * inset,
                               fill=False, edgecolor=colors[k % 10], lw=2.2))
        ax.text(k * stride + f / 2, total - f - 0.55, str(k), color=colors[k % 10],
                ha="center", va="center", fontsize=9, weight="bold")
    ax.set_xlim(-0.2, total + 0.2)
    ax.set_ylim(-1.0, total + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    return positions


fig, axes = plt.subplots(1, 4, figsize=(13, 3.8))
settings = [(1, 0), (2, 0), (3, 0), (1, 1)]
for ax, (stride, padding) in zip(axes, settings):
    exact = (7 - 3 + 2 * padding) / stride + 1
    positions = draw_windows(ax, 7, 3, stride, padding,
                             f"7x7, 3x3, stride {stride}, pad {padding}\n(7-3+2*{padding})/{stride}+1 = {exact:.3g}")
    assert positions == conv_output_size(7, 3, stride, padding)
fig.suptitle("Window positions along the first row (red: a column no window reaches; grey: zero padding)",
             fontsize=10)
savefig(fig, "01_window_positions.png")

# %% [markdown]
# ## Counting parameters
#
# A filter always spans the whole depth of its input, and has one bias.
# CS231n's example: a 32x32x3 image, ten 5x5 filters, stride 1, pad 2.
# Each filter has 5*5*3 weights plus a bias = 76 parameters; ten of them
# make 760. The output is 32x32x10: one 32x32 map per filter.

# %%
layer = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
per_filter = 5 * 5 * 3 + 1
total = sum(p.size for p in layer.parameters())
print("weight shape (F, C, KH, KW):", layer.weight.shape, " bias shape:", layer.bias.shape)
print(f"per filter: 5*5*3 + 1 = {per_filter};  layer: {total}")
print("output shape for one 3x32x32 image:", layer.output_shape((3, 32, 32)))
y = layer(mc.tensor(np.zeros((1, 3, 32, 32), np.float32)))
print("output of an actual forward pass:", y.shape)

assert per_filter == 76 and total == 760
assert layer.output_shape((3, 32, 32)) == (10, 32, 32) and y.shape == (1, 10, 32, 32)

# %% [markdown]
# The count does not depend on the image size: the same 760 numbers are
# used at every one of the 32*32 positions. That is weight sharing, the
# subject of lesson 2.
#
# ## One output number by hand
#
# The CS231n convolution demo: a 5x5x3 input padded by 1 (so 7x7x3),
# two 3x3x3 filters, stride 2. The formula gives (5 - 3 + 2)/2 + 1 = 3,
# so the output is 3x3x2. Each output number is the sum, over all three
# channels and nine taps, of filter weight times input value, plus the
# filter's bias. We compute one of them with plain loops and compare.

# %%
rng = np.random.default_rng(1)
image = rng.integers(0, 3, size=(1, 3, 5, 5)).astype(np.float64)     # small integers, as in the demo
filters = rng.integers(-1, 2, size=(2, 3, 3, 3)).astype(np.float64)
biases = np.array([1.0, 0.0])
out = F.conv2d(mc.tensor(image), mc.tensor(filters), mc.tensor(biases), stride=2, padding=1)
print("output shape:", out.shape)
assert out.shape == (1, 2, 3, 3)

padded = np.pad(image[0], ((0, 0), (1, 1), (1, 1)))                   # 3x7x7, zeros around
f, oy, ox = 1, 2, 1                                                    # filter 1, output row 2, column 1
window = padded[:, oy * 2:oy * 2 + 3, ox * 2:ox * 2 + 3]               # 3x3x3 patch under the filter
by_hand = float((window * filters[f]).sum() + biases[f])
print(f"by hand: sum(window * filter {f}) + bias = {by_hand:g};  conv2d: {out.numpy()[0, f, oy, ox]:g}")
assert by_hand == out.numpy()[0, f, oy, ox]
print("filter 0 output map:\n", out.numpy()[0, 0])

# %% [markdown]
# ## 1x1 convolutions
#
# A 1x1 filter looks at one position but the whole depth: it is a dot
# product of the 64 numbers at that position with 64 weights. 32 such
# filters turn a 56x56x64 volume into 56x56x32 (CS231n lecture 5): a
# fully connected layer over depth, applied at every position, used to mix
# and shrink channels cheaply.

# %%
size = 14 if FAST else 56
volume = np.random.default_rng(2).standard_normal((1, 64, size, size)).astype(np.float32)
mixer = nn.Conv2d(64, 32, kernel_size=1)
mixed = mixer(mc.tensor(volume)).numpy()
print(f"1x1 conv: {volume.shape} -> {mixed.shape}; parameters {sum(p.size for p in mixer.parameters())} "
      "(32 * (64 + 1))")
# the same numbers as a dot product over depth at every position
as_dot = np.einsum("fc,nchw->nfhw", mixer.weight.numpy()[:, :, 0, 0], volume) \
    + mixer.bias.numpy()[None, :, None, None]
print("largest difference from the per-position dot product:", np.abs(mixed - as_dot).max())
assert mixed.shape == (1, 32, size, size)
assert np.allclose(mixed, as_dot, atol=1e-4)

# %% [markdown]
# ## Pooling uses the same formula
#
# A 2x2 max pool with stride 2 halves each side: 224x224x64 becomes
# 112x112x64 (CS231n lecture 5), with no parameters, each depth slice on
# its own. When the size is odd there is a choice: the lecture notes pool a
# 7x7 map into 4x4, keeping a last, partial window; the formula floors to
# 3x3. minicnn floors by default and keeps the partial window with
# `ceil_mode=True` (PyTorch's rule, Keras's "same").

# %%
side = 56 if FAST else 224
maps = mc.tensor(np.random.default_rng(3).standard_normal((1, 64, side, side)).astype(np.float32))
pooled = F.max_pool2d(maps, 2)
print(f"{side}x{side}x64 -> max pool 2x2/2 -> {pooled.shape[2]}x{pooled.shape[3]}x{pooled.shape[1]}")
assert pooled.shape == (1, 64, side // 2, side // 2)
print("224 -> ", conv_output_size(224, 2, 2))
assert conv_output_size(224, 2, 2) == 112

seven = mc.tensor(np.arange(49, dtype=np.float32).reshape(1, 1, 7, 7))
floor_shape = F.max_pool2d(seven, 2).shape[2:]
ceil_shape = F.max_pool2d(seven, 2, ceil_mode=True).shape[2:]
print(f"7x7 map, 2x2/2 pool: floored {floor_shape}, ceil_mode {ceil_shape}")
assert floor_shape == (3, 3) and ceil_shape == (4, 4)

# %% [markdown]
# ## When a shape cannot work
#
# A layer whose window is larger than its (padded) input has no valid
# position at all. minicnn names the layer and the failing formula:

# %%
tiny_net = nn.Sequential(nn.Conv2d(1, 4, 5), nn.MaxPool2d(2), nn.Conv2d(4, 4, 5))
try:
    tiny_net.summary((1, 12, 12))
    raise AssertionError("a 5x5 filter on a 4x4 map should not fit")
except ShapeError as error:
    print("ShapeError:", error)
    assert "Conv2d layer '2'" in str(error)

# %% [markdown]
# ## What to remember
#
# * positions per axis: (N - F + 2P)/S + 1, and it must be a whole number
#   for the windows to tile the input;
# * stride 1 with P = (F - 1)/2 keeps the size;
# * a filter spans the full depth: F * (C * KH * KW + 1) parameters per layer,
#   independent of the image size;
# * a 1x1 convolution is a per-position dot product over depth.
#
# Next: why a convolution rather than a fully connected layer
# (`02_fc_vs_conv.py`).
