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
# # 2. Fully connected versus convolutional
#
# A fully connected (FC) layer on an image first flattens it: a 32x32x3
# image becomes a vector of 3072 numbers and the layer is a 10x3072 matrix
# (CS231n lecture 5). This lesson shows, with numbers, what that throws
# away, what a convolution keeps (locality and weight sharing), and that the
# two are not different kinds of thing: a convolution is an FC layer with
# most weights forced to zero and the rest tied together, and an FC layer is
# a convolution whose filter covers the whole input.
#
# Where it lives in minicnn: `minicnn/engine/functional/fully_connected.py` (linear,
# flatten), `minicnn/engine/functional/conv.py` (conv2d), `minicnn/engine/nn/layers.py`.

# %%
from common import FAST, per_class_subset, savefig   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt


import minicnn as mc
from minicnn import nn, functional as F
from minicnn.data import load_dataset, to_float

mc.manual_seed(0)
test = load_dataset("fashion-mnist", "test")
chosen = per_class_subset(test, 2 if FAST else 10)
images = to_float(test.images[chosen])                 # (N, 1, 28, 28) in [0, 1]
print("images:", images.shape)

# %% [markdown]
# ## What flattening loses
#
# Shuffle the pixels of every image with one fixed permutation. To our eyes
# the result is noise. To an FC layer nothing has changed: permute the
# columns of its weight matrix the same way and it computes exactly the
# same outputs. An FC network cannot know which pixel was next to which;
# it would learn the shuffled images exactly as well as the real ones.

# %%
rng = np.random.default_rng(0)
permutation = rng.permutation(28 * 28)
flat = images.reshape(len(images), -1)                               # (N, 784): flattening
shuffled = flat[:, permutation]

fc = nn.Linear(784, 10)
out_original = fc(mc.tensor(flat)).numpy()
fc_shuffled = nn.Linear(784, 10)
fc_shuffled.load_state_dict({"weight": fc.weight.numpy()[:, permutation], "bias": fc.bias.numpy()})
out_shuffled = fc_shuffled(mc.tensor(shuffled)).numpy()
print("FC on originals vs permuted FC on shuffled images, largest difference:",
      np.abs(out_original - out_shuffled).max())
assert np.allclose(out_original, out_shuffled, atol=1e-5)

# %% [markdown]
# A convolution is different: its 3x3 filter combines neighbouring pixels,
# so shuffling changes what it sees. An edge filter traces the outline of
# the real garment. On the shuffled image neighbours are unrelated, so
# nearly every position looks like an edge and the response is strong
# everywhere and means nothing.

# %%
edge = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32).reshape(1, 1, 3, 3)  # vertical edges
shuffled_images = shuffled.reshape(images.shape)
edges_original = F.conv2d(mc.tensor(images[:1]), mc.tensor(edge)).numpy()[0, 0]
edges_shuffled = F.conv2d(mc.tensor(shuffled_images[:1]), mc.tensor(edge)).numpy()[0, 0]
strong = 0.5 * np.abs(edges_original).max()
print(f"positions with a strong edge response (> {strong:.2f}): original "
      f"{int((np.abs(edges_original) > strong).sum())}, shuffled {int((np.abs(edges_shuffled) > strong).sum())} "
      f"of {edges_original.size}")

fig, axes = plt.subplots(1, 4, figsize=(11, 3))
panels = [(images[0, 0], "image"), (shuffled_images[0, 0], "pixels shuffled"),
          (edges_original, "3x3 edge filter on image"), (edges_shuffled, "same filter on shuffled")]
for ax, (picture, title) in zip(axes, panels):
    ax.imshow(picture, cmap="gray" if "filter" not in title else "RdBu_r")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.suptitle(f"A {test.classes[test.labels[chosen[0]]]}: an FC layer finds both versions equally easy; "
             "a convolution does not", fontsize=10)
savefig(fig, "02_shuffled_pixels.png")

# %% [markdown]
# ## A convolution is a sparse, tied FC layer
#
# A convolution is linear, so it is some matrix applied to the flattened
# image. We can find that matrix column by column: feed it each of the 784
# one-pixel images (1 at one pixel, 0 elsewhere) and record the output.
# Column j of the matrix is the response to pixel j.

# %%
size = 10 if FAST else 28
kernel = np.random.default_rng(1).standard_normal((1, 1, 3, 3)).astype(np.float64)
basis = np.eye(size * size).reshape(size * size, 1, size, size)          # one image per pixel
responses = F.conv2d(mc.tensor(basis), mc.tensor(kernel)).numpy()         # (size*size, 1, out, out)
out = size - 2
matrix = responses.reshape(size * size, out * out).T                      # (out*out, size*size)
print(f"the {out}x{out} conv output as a matrix: {matrix.shape}")

x = images[0, 0, :size, :size].astype(np.float64)
via_conv = F.conv2d(mc.tensor(x[None, None]), mc.tensor(kernel)).numpy().ravel()
via_matrix = matrix @ x.ravel()
assert np.allclose(via_conv, via_matrix)
nonzero = np.count_nonzero(matrix)
distinct = len(np.unique(np.round(matrix[matrix != 0], 12)))
print(f"matrix entries: {matrix.size:,}; nonzero: {nonzero:,} ({100 * nonzero / matrix.size:.2f}%); "
      f"distinct nonzero values: {distinct} (the 9 filter weights)")
assert nonzero == out * out * 9 and distinct == 9

# %% [markdown]
# Each row has only 9 nonzero entries, the 3x3 neighbourhood of one output
# position: *locality*. And every row holds the same 9 numbers, shifted:
# *weight sharing*. An FC layer producing the same number of outputs would
# have a free weight in every one of those cells.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [2, 1]})
axes[0].imshow(np.where(matrix == 0, np.nan, matrix), cmap="RdBu_r", aspect="auto", interpolation="nearest")
axes[0].set_title(f"3x3 convolution on {size}x{size} as a {matrix.shape[0]}x{matrix.shape[1]} matrix "
                  "(white = 0)", fontsize=9)
axes[0].set_xlabel("input pixel (flattened)")
axes[0].set_ylabel("output position (flattened)")
zoom = matrix[:2 * out, :3 * size]
axes[1].imshow(np.where(zoom == 0, np.nan, zoom), cmap="RdBu_r", interpolation="nearest")
axes[1].set_title("top-left corner: the same 9 weights\nin every row, shifted", fontsize=9)
axes[1].set_xlabel("input pixel")
savefig(fig, "02_conv_as_matrix.png")

# %% [markdown]
# ## Parameter counts side by side
#
# For a 32x32x3 input (CS231n's example):

# %%
rows = [
    ("FC: 3072 -> 10 class scores", nn.Linear(3072, 10), (3072,)),
    ("conv: ten 5x5 filters, pad 2", nn.Conv2d(3, 10, 5, padding=2), (3, 32, 32)),
    ("FC with the conv's output size: 3072 -> 10240", None, None),
]
print(f"{'layer':<48} {'outputs':>9} {'parameters':>12}")
counts = {}
for name, layer, shape in rows:
    if layer is None:
        outputs, params = 10 * 32 * 32, 3072 * 10240 + 10240
    else:
        outputs = int(np.prod(layer.output_shape(shape)))
        params = sum(p.size for p in layer.parameters())
    counts[name] = params
    print(f"{name:<48} {outputs:>9,} {params:>12,}")
assert counts["FC: 3072 -> 10 class scores"] == 30_730
assert counts["conv: ten 5x5 filters, pad 2"] == 760

# %% [markdown]
# The convolution computes a thousand times more outputs than the 10-way FC
# layer with 40 times fewer weights; an unconstrained layer with as many
# outputs would need over 31 million.
#
# ## An FC layer is a convolution covering the whole input
#
# Reshape the FC layer's 10x3072 matrix into ten 3x32x32 filters. A
# convolution with them has exactly one position (the formula:
# (32 - 32)/1 + 1 = 1) and at that position computes the same dot products.

# %%
colour_images = np.random.default_rng(2).standard_normal((4, 3, 32, 32)).astype(np.float64)
fc = nn.Linear(3072, 10).to("float64")
as_conv = nn.Conv2d(3, 10, kernel_size=32).to("float64")
as_conv.load_state_dict({"weight": fc.weight.numpy().reshape(10, 3, 32, 32), "bias": fc.bias.numpy()})

fc_out = fc(F.flatten(mc.tensor(colour_images))).numpy()                  # (4, 10)
conv_out = as_conv(mc.tensor(colour_images)).numpy()                       # (4, 10, 1, 1)
print("conv output shape:", conv_out.shape, " largest difference from FC:",
      np.abs(conv_out[:, :, 0, 0] - fc_out).max())
assert conv_out.shape == (4, 10, 1, 1)
assert np.allclose(conv_out[:, :, 0, 0], fc_out)

# %% [markdown]
# Why bother? Because the convolution version does not insist on a 32x32
# input. Give it a 40x40 image and it slides: (40 - 32)/1 + 1 = 9 positions
# per side, a 9x9 map of class scores, each equal to the FC layer applied to
# one 32x32 crop. One pass computes what would otherwise take 81 separate
# runs of the FC layer, one per crop.

# %%
big = np.random.default_rng(3).standard_normal((1, 3, 40, 40))
score_map = as_conv(mc.tensor(big)).numpy()
print("on a 40x40 input the convolutional version gives", score_map.shape)
crop_scores = fc(F.flatten(mc.tensor(big[:, :, 5:37, 2:34]))).numpy()      # crop starting at row 5, column 2
assert score_map.shape == (1, 10, 9, 9)
assert np.allclose(score_map[0, :, 5, 2], crop_scores[0])
print("score map at (5, 2) equals the FC layer on the crop at rows 5..36, columns 2..33")

# %% [markdown]
# ## The same idea inside a real network
#
# The Keras-style MNIST convnet of the lecture notes ends its convolutions
# with a 3x3x64 volume, flattens it (576 numbers) and applies Dense(64).
# That Dense layer is a convolution with 64 filters of size 3x3x64:

# %%
features = np.random.default_rng(4).standard_normal((2, 64, 3, 3))
dense = nn.Linear(576, 64).to("float64")
dense_as_conv = nn.Conv2d(64, 64, 3).to("float64")
dense_as_conv.load_state_dict({"weight": dense.weight.numpy().reshape(64, 64, 3, 3), "bias": dense.bias.numpy()})
difference = np.abs(dense(F.flatten(mc.tensor(features))).numpy()
                    - dense_as_conv(mc.tensor(features)).numpy()[:, :, 0, 0]).max()
print(f"Dense(576 -> 64) vs Conv2d(64, 64, 3) on 3x3x64: largest difference {difference:.2e}; "
      f"both have {sum(p.size for p in dense.parameters()):,} parameters")
assert difference < 1e-10

# %% [markdown]
# ## What to remember
#
# * flattening forgets which pixel neighbours which: an FC layer is blind to
#   a fixed shuffle of its inputs;
# * a convolution is an FC layer with locality (each output sees a small
#   window) and weight sharing (every window uses the same weights): far
#   fewer parameters, and the same detector everywhere;
# * an FC layer is a convolution whose filter covers the whole input, which
#   lets a trained network slide over larger images.
#
# Next: how minicnn actually computes a convolution, as one matrix multiply
# (`03_im2col.py`).
