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
# shapes), `minicnn/engine/functional/conv.py` (the convolution itself, with
# its groups and dilation), `minicnn/models/imagenet.py` (AlexNet on two GPUs).

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
# ## Groups: AlexNet on two GPUs
#
# In 2012 one GTX 580 held 3 GB, too little for AlexNet. Krizhevsky et al.
# put half of every layer's filters on each of two GPUs, and let the GPUs
# talk only in some layers (AlexNet section 3.2): a filter of layers 2, 4
# and 5 sees only the maps on its own GPU, one of layer 3 (and of the dense
# layers) sees them all. A layer-2 filter is 5x5x48, not 5x5x96.
#
# In today's words those layers are *grouped* convolutions, `groups=2`: the
# C input channels and the F filters are split into G groups, and each
# filter sees the C/G channels of its group. The weight is
# (F, C/G, KH, KW), so the layer has G times fewer weights, and, since each
# output number sums C/G*KH*KW products instead of C*KH*KW, G times fewer
# multiply-adds. Layer 2 of AlexNet, both ways:

# %%
from minicnn.bench.flops import network as gemm_flops

split = nn.Conv2d(96, 256, 5, padding=2, groups=2)
dense = nn.Conv2d(96, 256, 5, padding=2)
for name, conv in (("groups=2", split), ("dense   ", dense)):
    params = sum(p.size for p in conv.parameters())
    out = conv.output_shape((96, 27, 27))
    macs = out[0] * out[1] * out[2] * (96 // conv.groups) * 5 * 5      # F*OH*OW * C/G*KH*KW
    counted = gemm_flops(nn.Sequential(conv), (96, 27, 27), 1, "forward").flops
    print(f"{name}: weight {conv.weight.shape}, {params:,} parameters, "
          f"{macs:,} multiply-adds per image (minicnn.bench.flops: {counted:,} FLOPs = 2 x)")
    assert counted == 2 * macs
assert split.weight.shape == (256, 48, 5, 5) and dense.weight.shape == (256, 96, 5, 5)
assert sum(p.size for p in split.parameters()) == 256 * (48 * 25 + 1) == 307_456
assert sum(p.size for p in dense.parameters()) - 256 == 2 * (307_456 - 256)

# %% [markdown]
# A grouped layer is exactly two dense layers side by side, one per GPU:
# filters 0-127 on channels 0-47, filters 128-255 on channels 48-95.
# minicnn computes it that way too: one im2col for all channels, then one
# matrix product per group (`xp.matmul` over the groups).

# %%
x = mc.tensor(np.random.default_rng(4).standard_normal((1, 96, 27, 27)).astype(np.float32))
y = split(x).numpy()
w, b = split.weight.numpy(), split.bias.numpy()
for gpu in (0, 1):
    channels, filters = slice(48 * gpu, 48 * gpu + 48), slice(128 * gpu, 128 * gpu + 128)
    alone = F.conv2d(mc.tensor(x.numpy()[:, channels]), mc.tensor(w[filters]), mc.tensor(b[filters]), padding=2)
    print(f"GPU {gpu}: largest difference from a dense layer on its half:", np.abs(y[:, filters] - alone.numpy()).max())
    assert np.allclose(y[:, filters], alone.numpy(), atol=1e-4)

# %% [markdown]
# The whole network. Only the convolutions change; the three dense layers
# (9216 -> 4096 -> 4096 -> 1000) read both GPUs and hold the same
# 37,752,832 + 16,781,312 + 4,097,000 parameters either way.
# `minicnn.models.alexnet()` is the paper's form, `alexnet(groups=1)` the
# dense one (`python3 -m minicnn summary alexnet` prints the table). Here the
# five convolutions are built on their own (the dense layers would take
# seconds to draw); the full models are counted when not in fast mode.

# %%
def alexnet_convolutions(groups):
    """AlexNet's five convolutions: layers 2, 4 and 5 with ``groups``."""
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, padding=2), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=groups), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.Conv2d(384, 384, 3, padding=1, groups=groups),
        nn.Conv2d(384, 256, 3, padding=1, groups=groups), nn.MaxPool2d(3, 2))


dense_layers = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
dense_flops = 2 * (9216 * 4096 + 4096 * 4096 + 4096 * 1000)          # 2 FLOPs per multiply-add
totals, conv_flops = {}, {}
for groups in (2, 1):
    rows = alexnet_convolutions(groups).summary((3, 224, 224), print_table=False)
    conv_params = sum(row["params"] for row in rows)
    conv_flops[groups] = gemm_flops(alexnet_convolutions(groups), (3, 224, 224), 1, "forward").flops
    totals[groups] = conv_params + dense_layers
    print(f"groups={groups}: convolutions {conv_params:>9,} parameters, {conv_flops[groups] / 1e9:.2f} GFLOPs "
          f"per image; with the dense layers ({dense_flops / 1e9:.2f} GFLOPs) {totals[groups]:,} parameters")
assert totals == {2: 60_965_224, 1: 62_378_344}
weights_saved = 1 - totals[2] / totals[1]
flops_saved = 1 - conv_flops[2] / conv_flops[1]
print(f"the split saves {totals[1] - totals[2]:,} weights ({weights_saved:.1%}) and {flops_saved:.0%} of the "
      "convolutions' multiply-adds")
assert 0.02 < weights_saved < 0.03 and 0.35 < flops_saved < 0.40 and conv_flops[2] > 10 * dense_flops
if not FAST:
    from minicnn.models import alexnet
    for groups, total in totals.items():
        assert sum(p.size for p in alexnet(groups=groups).parameters()) == total

# %% [markdown]
# The split saves few weights (about 2%: most of AlexNet's weights sit in
# its dense layers) but over a third of the convolutions' multiply-adds
# (not half: layers 1 and 3 stay whole), and the convolutions do more than
# ten times the dense layers' arithmetic. ZFNet, trained on one GPU, made
# layers 3-5 dense again (ZFNet section 3; `zfnet` has no groups). Taken to
# the limit, groups = C = F filters each channel on its own (a *depthwise*
# convolution): C*KH*KW weights instead of C*C*KH*KW.
#
# Groups change which channels a filter sees, not which pixels: the output
# size and the receptive field are those of the dense layer.

# %% [markdown]
# ## Dilation: a wider window with the same weights
#
# A *dilated* window (dilation D) spaces its F taps D pixels apart (Yu and
# Koltun 2016): a 3x3 filter with D = 2 reads a 5x5 patch, every other
# pixel, with 9 weights. D(F - 1) + 1 takes the place of F in the formula:
#
#     (N + 2P - D(F - 1) - 1) / S + 1
#
# and in the receptive field, which grows by D(F - 1) times the spacing of
# the layer's input.

# %%
print("7x7 input, 3x3 filter, dilation 2:", conv_output_size(7, 3, dilation=2), " (7 - 2*2 - 1)/1 + 1 = 3")
dilated = F.conv2d(mc.tensor(np.ones((1, 1, 7, 7), np.float32)), mc.tensor(np.ones((1, 1, 3, 3), np.float32)),
                   dilation=2)
assert conv_output_size(7, 3, dilation=2) == 3 and dilated.shape == (1, 1, 3, 3)
stacks = {
    "dilation 1, 1, 1": nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)),
    "dilation 1, 2, 4": nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, dilation=2),
                                      nn.Conv2d(1, 1, 3, dilation=4)),
}
fields = {}
for name, stack in stacks.items():
    rows = stack.summary((1, 32, 32), print_table=False)
    fields[name] = [row["receptive_field"][0] for row in rows]
    print(f"three 3x3 convolutions, {name}: receptive fields {fields[name]}, "
          f"{sum(row['params'] for row in rows)} parameters, output {rows[-1]['output_shape']}")
assert fields == {"dilation 1, 1, 1": [3, 5, 7], "dilation 1, 2, 4": [3, 7, 15]}

# %% [markdown]
# Doubling the dilation at each layer doubles the field each time, at the
# same cost per output position. The taps of one 3x3 filter at D = 1, 2, 4:

# %%
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, dilation in zip(axes, (1, 2, 4)):
    span = dilation * 2 + 1
    ax.add_patch(Rectangle((0, 0), 9, 9, facecolor="white", edgecolor="0.6"))
    for r in range(9):
        for c in range(9):
            ax.add_patch(Rectangle((c, 8 - r), 1, 1, facecolor="none", edgecolor="0.85", lw=0.5))
    start = (9 - span) // 2
    for i in range(3):
        for j in range(3):
            ax.add_patch(Rectangle((start + j * dilation, 8 - start - i * dilation), 1, 1, facecolor="#4c72b0"))
    ax.set_xlim(0, 9)
    ax.set_ylim(0, 9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"dilation {dilation}: 9 weights span {span}x{span}", fontsize=9)
savefig(fig, "01_dilated_taps.png")

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
# * a 1x1 convolution is a per-position dot product over depth;
# * groups G: each filter sees C/G channels, G times fewer weights and
#   multiply-adds (AlexNet's two GPUs: 60,965,224 parameters, not 62,378,344);
# * dilation D: taps D apart, (N + 2P - D(F - 1) - 1)/S + 1 positions, a
#   wider receptive field for the same weights.
#
# Next: why a convolution rather than a fully connected layer
# (`02_fc_vs_conv.py`).
