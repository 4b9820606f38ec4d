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
# # 5. Pooling, the X/O example, and switches
#
# Max pooling keeps the largest value in each window of each feature map.
# It has no weights, works on each depth slice separately, shrinks the
# maps (a 2x2 window with stride 2 halves each side) and makes the network
# care less about exactly where a feature was. This lesson runs the
# lecture notes' X/O example end to end, then looks at the "switches":
# the record of where each maximum was, which lets ZFNet's deconvnet undo
# the pooling (lesson 8).
#
# Where it lives in minicnn: `minicnn/engine/functional/pooling.py` (max_pool2d,
# max_unpool2d, Switches), `minicnn/engine/kernels/pooling.py`
# (`maxpool_forward`, `maxpool_scatter`).

# %%
from common import per_class_subset, savefig   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt


import minicnn as mc
from minicnn import functional as F
from minicnn.data import load_dataset, to_float

mc.manual_seed(0)
np.set_printoptions(precision=2, suppress=True, linewidth=120)

# %% [markdown]
# ## The X/O example
#
# The lecture notes build a tiny detector by hand. The image is a 9x9 X:
# +1 on the two diagonals, -1 everywhere else. The filter is a 3x3
# diagonal stroke, +1 on its diagonal and -1 off it. At each position the
# response is the *mean* of the nine products of filter and pixel (a
# convolution with the filter divided by 9). A product is +1 where filter
# and image agree and -1 where they disagree, so the mean is 1 exactly
# where the window looks like the filter, -1 where it looks like its
# inverse, and in between otherwise.

# %%
x_image = -np.ones((9, 9))
for i in range(1, 8):
    x_image[i, i] = x_image[i, 8 - i] = 1.0
diagonal = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)
print("the X (+1 / -1):\n", x_image.astype(int))
print("the diagonal filter:\n", diagonal.astype(int))

response = F.conv2d(mc.tensor(x_image[None, None]), mc.tensor(diagonal[None, None] / 9)).numpy()[0, 0]
print("responses, (9 - 3)/1 + 1 = 7 per side, each the mean of nine products:\n", response)
assert response.shape == (7, 7)

# check one by hand: the window whose top-left pixel is (1, 1) lies on the X's diagonal
window = x_image[1:4, 1:4]
assert np.isclose(response[1, 1], (window * diagonal).mean())
assert np.isclose(response.max(), 1.0)
print("positions where the response is exactly 1:", np.argwhere(np.isclose(response, 1.0)).tolist())

# %% [markdown]
# The 1s run along the X's main diagonal, where the stroke matches
# perfectly. The inverse image (-X) gives -1 in the same places:

# %%
inverse = F.conv2d(mc.tensor(-x_image[None, None]), mc.tensor(diagonal[None, None] / 9)).numpy()[0, 0]
print("minimum response on the inverted X:", inverse.min())
assert np.isclose(inverse.min(), -1.0) and np.allclose(inverse, -response)

# %% [markdown]
# Then the notes apply ReLU (negative responses, "the opposite of a
# stroke here", become 0) and 2x2 max pooling with stride 2. A 7x7 map
# gives (7 - 2)/2 + 1 = 3.5 positions: the notes keep the last, partial
# window and get 4x4 (minicnn's `ceil_mode=True`, lesson 1).

# %%
rectified = F.relu(mc.tensor(response[None, None]))
pooled, switches = F.max_pool2d(rectified, 2, ceil_mode=True, return_switches=True)
pooled_map = pooled.numpy()[0, 0]
print("after ReLU and 2x2 max pooling (ceil_mode):\n", pooled_map)
assert pooled_map.shape == (4, 4)
assert np.allclose(np.diag(pooled_map)[:3], 1.0)           # the diagonal stroke survives pooling
assert rectified.numpy().min() == 0.0

# %% [markdown]
# Pooling kept the strong diagonal of 1s and a rough picture of the rest
# in a quarter of the numbers. A second and third filter (the other
# diagonal, and a small x; our additions, built the same way) find the
# other parts of the X, so three 4x4 maps describe it.

# %%
anti_diagonal = diagonal[:, ::-1]
cross = np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]], dtype=np.float64)
bank = np.stack([diagonal, anti_diagonal, cross])[:, None] / 9               # (3, 1, 3, 3)
maps = F.conv2d(mc.tensor(x_image[None, None]), mc.tensor(bank))
pooled_bank = F.max_pool2d(F.relu(maps), 2, ceil_mode=True).numpy()[0]
assert np.isclose(pooled_bank[1].max(), 1.0) and np.isclose(pooled_bank[2].max(), 1.0)

fig, axes = plt.subplots(3, 4, figsize=(11, 8))
for row, name in enumerate(["diagonal \\", "other diagonal /", "small x"]):
    panels = [(x_image, "image"), (bank[row, 0] * 9, f"filter: {name}"),
              (maps.numpy()[0, row], "mean of products (7x7)"), (pooled_bank[row], "ReLU + 2x2 max pool (4x4)")]
    for col, (picture, title) in enumerate(panels):
        ax = axes[row, col]
        ax.imshow(picture, cmap="RdBu_r", vmin=-1, vmax=1)
        if picture.shape[0] <= 7:
            for (r, c), value in np.ndenumerate(picture):
                ax.text(c, r, f"{value:.2f}".replace("0.", ".") if picture.shape[0] > 3 else int(value),
                        ha="center", va="center", fontsize=7, color="white" if abs(value) > 0.7 else "black")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
fig.suptitle("The X/O example: +1 where the pattern matches, -1 where its inverse does", fontsize=11)
savefig(fig, "05_x_example.png")

# %% [markdown]
# ## What pooling buys: tolerance to small shifts
#
# Move the X one pixel to the right. Every 7x7 response moves with it, so
# most positions change value. After 2x2 pooling, a value that moved
# within its window is still found by the same window. (With a one-pixel
# move, about half the windows see the change; pooling over larger or
# repeated windows gives more tolerance.)

# %%
shifted = np.roll(x_image, 1, axis=1)
shifted[:, 0] = -1.0
response_shifted = F.conv2d(mc.tensor(shifted[None, None]), mc.tensor(diagonal[None, None] / 9))
pooled_shifted = F.max_pool2d(F.relu(response_shifted), 2, ceil_mode=True).numpy()[0, 0]
before_changed = np.mean(~np.isclose(np.maximum(response, 0), np.maximum(response_shifted.numpy()[0, 0], 0)))
after_changed = np.mean(~np.isclose(pooled_map, pooled_shifted))
print(f"fraction of values that changed: before pooling {before_changed:.0%}, after pooling {after_changed:.0%}")
assert after_changed < before_changed

# %% [markdown]
# ## Switches: where each maximum was
#
# Pooling forgets where the maxima were. ZFNet records them on the way up,
# in "switch" variables (ZFNet §2.1). minicnn returns them from
# `max_pool2d(..., return_switches=True)`: for each pooled value, the flat
# index `row * W + col` of the input pixel it came from. Ties go to the
# first maximum in row-major order.

# %%
small = np.array([[1, 3, 2, 0],
                  [4, 2, 2, 2],
                  [0, 5, 1, 7],
                  [6, 0, 8, 1]], dtype=np.float32)[None, None]
y, switches = F.max_pool2d(mc.tensor(small), 2, return_switches=True)
flat = switches.indices[0, 0]
print("input:\n", small[0, 0].astype(int))
print("pooled:\n", y.numpy()[0, 0].astype(int))
print("switches (flat index row*W + col):\n", flat)
print("as (row, col):", [divmod(int(i), 4) for i in flat.ravel()])
assert flat.tolist() == [[4, 2], [12, 14]]          # 4 at (1,0); tie of 2s -> first one, (0,2); 6 at (3,0); 8 at (3,2)

# %% [markdown]
# ## Unpooling
#
# Unpooling puts every pooled value back at its switch position and zeros
# elsewhere. It cannot restore what pooling dropped, but the values that
# survived go back exactly where they came from. This is the very same
# computation as the backward pass of max pooling (the gradient flows
# only to the maximum of each window), which autograd confirms:

# %%
back = F.max_unpool2d(y, switches).numpy()[0, 0]
print("unpooled:\n", back.astype(int))
assert np.array_equal(back, np.where(np.isin(np.arange(16).reshape(4, 4), flat), small[0, 0], 0))

x_leaf = mc.tensor(small.astype(np.float64), requires_grad=True)
y_leaf, switches_leaf = F.max_pool2d(x_leaf, 2, return_switches=True)
g = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
y_leaf.backward(g)
assert np.array_equal(x_leaf.grad, F.max_unpool2d(mc.tensor(g), switches_leaf).numpy())
print("backward of max_pool2d == max_unpool2d with its switches")

# %% [markdown]
# With overlapping windows (3x3, stride 2, as in ZFNet and AlexNet) one
# pixel can be the maximum of two windows. Unpooling then adds both values
# there, as the backward pass must.

# %%
peak = np.zeros((1, 1, 5, 5))
peak[0, 0, 2, 2] = 9.0                      # the centre pixel lies in all four 3x3 windows
pooled_peak, peak_switches = F.max_pool2d(mc.tensor(peak), 3, stride=2, return_switches=True)
print("3x3/2 pooling of a single peak:", pooled_peak.numpy()[0, 0].tolist(),
      "; all four switches point to index", set(peak_switches.indices.ravel().tolist()))
unpooled_peak = F.max_unpool2d(pooled_peak, peak_switches).numpy()[0, 0]
print("unpooled centre value:", unpooled_peak[2, 2], "(four windows of 9)")
assert unpooled_peak[2, 2] == 36.0

# %% [markdown]
# ## Switches on a real image
#
# A Fashion-MNIST image, 2x2 max pooled to 14x14. Unpooling with its own
# switches puts each of the 196 surviving values back on the pixel it came
# from: a sparse but recognisable copy. Switches belong to the image that
# was run up (ZFNet §2.1): unpool the same values with another image's
# switches and each lands on a pixel it did not come from, up to one pixel
# off in every window; after several pooling layers those errors compound.

# %%
test = load_dataset("fashion-mnist", "test")
picked = per_class_subset(test, 1, seed=3)[:2]
pair = to_float(test.images[picked])                                   # (2, 1, 28, 28)
pooled_pair, own_switches = F.max_pool2d(mc.tensor(pair), 2, return_switches=True)
other_switches = mc.functional.Switches(own_switches.indices[::-1].copy(), own_switches.input_shape)
own = F.max_unpool2d(pooled_pair, own_switches).numpy()
wrong = F.max_unpool2d(pooled_pair, other_switches).numpy()

for n in range(2):
    kept = own[n, 0] != 0
    misplaced = wrong[n, 0] != 0
    assert np.array_equal(own[n, 0][kept], pair[n, 0][kept])            # every value on its own pixel
    error = np.abs(wrong[n, 0][misplaced] - pair[n, 0][misplaced]).mean()
    print(f"image {n} ({test.classes[test.labels[picked[n]]]}): own switches put {kept.sum()} nonzero values "
          f"exactly; the other image's switches misplace them, mean error {error:.3f} per value")
    assert error > 0.01

fig, axes = plt.subplots(2, 4, figsize=(10, 5.4))
for n in range(2):
    panels = [(pair[n, 0], f"image ({test.classes[test.labels[picked[n]]]})"),
              (pooled_pair.numpy()[n, 0], "2x2 max pooled: 14x14"),
              (own[n, 0], "unpooled with its own switches"),
              (wrong[n, 0], "unpooled with the other\nimage's switches")]
    for ax, (picture, title) in zip(axes[n], panels):
        ax.imshow(picture, cmap="gray")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
fig.suptitle("Switches record where the maxima were; they belong to the image that was pooled", fontsize=11)
savefig(fig, "05_switches_unpooling.png")

# %% [markdown]
# ## What to remember
#
# * max pooling: per depth slice, no parameters, (N - F)/S + 1 positions;
#   ceil_mode keeps a last partial window (the notes' 7x7 -> 4x4);
# * in the X/O example a response of 1 marks a perfect match, -1 the inverse;
#   ReLU and pooling keep the strong matches in fewer numbers;
# * switches record where each maximum was; unpooling with them is the
#   backward pass of pooling, and the deconvnet's way back down (ZFNet §2.1).
#
# Next: a whole convnet trained on Fashion-MNIST (`06_first_convnet.py`).
