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
# # 8. The deconvnet: what one unit responds to, in pixels
#
# Feature maps (lesson 7) show *where* a unit fires; they do not show
# *what* in the image made it fire, and deep maps are too small to read.
# Zeiler and Fergus's answer (ZFNet §2.1) is a "deconvnet": take one
# activation of a chosen layer, set every other activation of that layer to
# zero, and send it back down the network to pixel space, undoing each layer
# approximately:
#
# * max pooling: unpool, putting each value back at the position its
#   maximum came from (the switches of lesson 5, recorded for *this* image);
# * ReLU: apply a ReLU to the signal coming down;
# * convolution: apply the same filters transposed (flipped vertically and
#   horizontally), which is exactly the convolution's input-gradient
#   computation of lesson 3, without the bias.
#
# Nothing is learned and no normalization is inverted. Then, as in ZFNet's
# Fig. 2, we look at the nine strongest activations of a map over many
# images, each projected separately, next to the image patches they saw.
#
# Where it lives in minicnn: `minicnn/visualize/deconvnet.py` (Deconvnet),
# `minicnn/engine/functional/transposed.py` (`F.conv_transpose2d`, the
# transposed filter, an engine op), `minicnn/visualize/topk.py` (the top-9 search),
# `minicnn/visualize/projection_grids.py` (Fig. 2's grid).

# %%
from common import FAST, OUT, Stopwatch, fashion_subset, savefig, show   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt

import minicnn as mc
from minicnn import nn
from minicnn.models import get_model
from minicnn.training.loop import evaluate, fit
from minicnn.visualize import Deconvnet, feature_visualization, plot_feature_visualization, receptive_box

mc.manual_seed(0)

# %% [markdown]
# ## A trained network
#
# `zfnet_small`, ZFNet's layout at 28x28 (`minicnn/models/small.py`), at
# `width=1` (16 filters in layer 1, a quarter of the default's parameters,
# so it trains in seconds), trained for a few epochs on a few thousand images (fast mode: a token
# run; the pictures then show an almost untrained network).

# %%
x_train, y_train, classes = fashion_subset("train", 20 if FAST else 400)
x_test, y_test, _ = fashion_subset("test", 6 if FAST else 50)
model = get_model("zfnet_small", width=1)
with Stopwatch() as clock:
    fit(model, (x_train, y_train), None, epochs=1 if FAST else 3, lr=0.01, momentum=0.9, seed=0, progress=False)
print(f"trained in {clock.seconds:.0f} s; test accuracy {evaluate(model, x_test, y_test).accuracy:.1%}")
model.eval()
print(model)

# %% [markdown]
# ## One unit, projected
#
# Take one test image and, at each convolution's ReLU, the strongest
# activation of the strongest map. `Deconvnet(model).project_units` runs
# the image up to that layer (recording the switches), keeps that single
# activation, and sends it down.

# %%
deconv = Deconvnet(model)
image = x_test[:1]
relu_after_conv = [index + 1 for index, layer in enumerate(model) if isinstance(layer, nn.Conv2d)]
projections = {}
for layer in relu_after_conv:
    activations = deconv.up(image, layer).activations                  # (1, C, h, w)
    channel = int(activations[0].reshape(len(activations[0]), -1).max(axis=1).argmax())
    pixels, positions, values = deconv.project_units(image, layer, [channel])
    box = receptive_box(model, layer, tuple(positions[0]), (28, 28))
    outside = np.ones((28, 28), bool)
    outside[box[0]:box[1], box[2]:box[3]] = False
    largest_outside = np.abs(pixels[0, 0][outside]).max() if outside.any() else 0.0   # the box may be the image
    print(f"layer {layer:>2}: map {channel:>2}, unit {tuple(int(p) for p in positions[0])} = {values[0]:.2f}; "
          f"receptive box rows {box[0]}-{box[1] - 1}, cols {box[2]}-{box[3] - 1}; "
          f"largest value outside the box: {largest_outside:.1e}")
    assert pixels.shape == image.shape
    assert np.all(pixels[0, 0][outside] == 0)       # the unit cannot have seen anything outside its field
    projections[layer] = (pixels[0, 0], box, channel)

# %% [markdown]
# The projection is exactly zero outside the unit's receptive field
# (lesson 7): nothing there could have reached the unit. Inside, light
# pixels are what pushed the unit up.

# %%
fig, axes = plt.subplots(1, len(projections) + 1, figsize=(2.4 * (len(projections) + 1), 2.9))
axes[0].imshow(image[0, 0], cmap="gray")
axes[0].set_title(f"image ({classes[y_test[0]]})", fontsize=9)
for ax, (layer, (pixels, box, channel)) in zip(axes[1:], projections.items()):
    limit = np.abs(pixels).max() or 1.0
    ax.imshow(pixels, cmap="gray", vmin=-limit, vmax=limit)
    ax.add_patch(plt.Rectangle((box[2] - 0.5, box[0] - 0.5), box[3] - box[2], box[1] - box[0],
                               fill=False, edgecolor="tab:orange", lw=1.2))
    ax.set_title(f"layer {layer}, map {channel}", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.suptitle("The strongest unit of each conv layer, projected to pixels (orange: its receptive field)",
             fontsize=10)
savefig(fig, "08_one_unit_per_layer.png")

# %% [markdown]
# ## The transposed filter is the convolution's backward pass
#
# For the first convolution there is nothing in between: the projection of
# one unit is its value times the filter, flipped and placed at the unit's
# position. That is the unit's value times the gradient of the unit with
# respect to the input (lesson 3), which autograd computes:

# %%
first_conv = 0
pixels, positions, values = deconv.project_units(image, first_conv, [3])
x = mc.tensor(image.copy(), requires_grad=True)
out = model[first_conv](x)
seed = np.zeros(out.shape, dtype=out.dtype)
row, col = positions[0]
seed[0, 3, row, col] = 1.0
out.backward(seed)
print(f"layer 0, map 3, unit ({row}, {col}): deconvnet vs value * gradient, largest difference "
      f"{np.abs(pixels - values[0] * x.grad).max():.1e}")
assert np.allclose(pixels, values[0] * x.grad, atol=1e-6)

# %% [markdown]
# Higher up the two part ways: backpropagation lets the gradient through a
# ReLU only where the *forward* activation was positive, while the
# deconvnet rectifies the signal coming down, whatever the forward pass
# did. That choice is what makes the projections look like image
# structure rather than noise.
#
# ## Top-9 per map, layer by layer (ZFNet Fig. 2)
#
# For a few maps of each layer, the nine test images that excite the map
# most (each image counted once), each projection cut to the unit's
# receptive field, next to the image patch under it. One pass over the
# images finds all of them.

# %%
layers = [relu_after_conv[0], relu_after_conv[1], relu_after_conv[-1]]
with Stopwatch() as clock:
    result = feature_visualization(model, x_test, layers, k=9, max_maps=4 if FAST else 6)
print(f"searched {len(x_test)} images and projected {sum(len(t.values) for r in result.values() for t in r)} "
      f"units in {clock.seconds:.1f} s")
show(plot_feature_visualization(result, OUT / "08_top9_per_layer.png"))

purity = {}
for layer, maps in result.items():
    shares = []
    for topk in maps:
        assert len(topk.values) == 9 and np.all(np.diff(topk.values) <= 0)      # strongest first
        assert topk.projections.shape == (9,) + x_test.shape[1:]
        counts = np.bincount(y_test[topk.indices], minlength=len(classes))
        shares.append(counts.max() / 9)
    purity[layer] = float(np.mean(shares))
    top_classes = [classes[c] for c in y_test[maps[0].indices]]
    print(f"layer {layer:>2}: map {maps[0].channel}'s top-9 images are {', '.join(top_classes)}")
print("share of the top-9 images from one class, averaged over the maps shown:",
      {layer: round(share, 2) for layer, share in purity.items()})

# %% [markdown]
# The early layer's maps respond to small strokes and edges, found in any
# kind of garment: their top-9 images come from many classes. The last
# convolution's units see most of the image, and their top-9 images tend
# to be of one kind: trousers, or T-shirts, or sandals. The deeper the
# layer, the more specific what it detects (ZFNet §4, in kind; in fast
# mode the net is untrained and this need not hold).

# %%
if not FAST:
    assert purity[layers[-1]] > purity[layers[0]]

# %% [markdown]
# ## What to remember
#
# * the deconvnet maps one activation back to pixels: unpool with the
#   image's own switches, rectify, apply the transposed filters;
# * a projection lives inside the unit's receptive field; for the first
#   layer it is the unit's value times its input-gradient;
# * top-9 projections per map show each layer's features: generic strokes
#   low down, class-specific parts higher up.
#
# **At full budget** (`minicnn reproduce zfnet --budget full`: full
# Fashion-MNIST, trained to convergence, 3 seeds;
# `benchmarks/results/zfnet-full/index.html`): ZFNet's claim 1 **holds**, the
# top-9 purity rising layer by layer (0.52, 0.61, 0.67, 0.76, 0.83 for
# layers 1-5), as this tutorial's small run shows in kind; claim 2, lower
# layers settle first (Fig. 4), **holds** too: layer 1 within 2 epochs,
# layer 5 at epoch 11 of 12-15, right after the learning rate is lowered.
#
# Next: which parts of the image the network relies on, and how stable
# its features are (`09_occlusion_invariance.py`).
