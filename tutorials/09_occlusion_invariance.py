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
# # 9. Occlusion and invariance
#
# Two experiments from ZFNet that treat the network as a black box and
# poke its input.
#
# * **Occlusion** (ZFNet Fig. 7): slide a grey square over the image and,
#   at every position, record how strongly a deep feature map still fires,
#   the probability of the correct class, and which class wins. If the
#   model really looks at the object, covering the object hurts and
#   covering the background does not.
# * **Invariance** (ZFNet Fig. 5): shift, rotate or rescale an image and
#   measure how far its feature vectors move, at the first layer and at the
#   top, and what happens to the true-class probability. ZFNet found that
#   small changes move the first layer a lot and the top layers much less.
#
# Where it lives in minicnn: `minicnn/visualize/occlusion_maps.py`,
# `minicnn/visualize/invariance_curves.py`, and the transforms they use in
# `minicnn/data/geometry.py`.

# %%
from common import FAST, OUT, Stopwatch, fashion_subset, savefig, show   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt

import minicnn as mc
from minicnn.models import get_model
from minicnn.engine.shapes import conv_output_size
from minicnn.training.loop import evaluate, fit
from minicnn.visualize import extract_features, invariance, occlusion, plot_invariance, plot_occlusion

mc.manual_seed(0)

# %% [markdown]
# ## A trained network
#
# `zfnet_small` again, at `width=1` as in lesson 8, trained for a few epochs on a few thousand images
# (fast mode: a token run, so the numbers mean little).

# %%
x_train, y_train, classes = fashion_subset("train", 20 if FAST else 400)
x_test, y_test, _ = fashion_subset("test", 6 if FAST else 50)
model = get_model("zfnet_small", width=1)
with Stopwatch() as clock:
    fit(model, (x_train, y_train), None, epochs=1 if FAST else 3, lr=0.01, momentum=0.9, seed=0, progress=False)
result = evaluate(model, x_test, y_test)
print(f"trained in {clock.seconds:.0f} s; test accuracy {result.accuracy:.1%}")
correct = np.flatnonzero(result.predictions == y_test)
chosen = correct[:6] if len(correct) >= 6 else np.arange(6)      # images the model gets right

# %% [markdown]
# ## Occlusion sensitivity
#
# An 8x8 square moved 2 pixels at a time over a 28x28 image takes
# (28 - 8)/2 + 1 = 11 positions per side, the window formula of lesson 1
# once more. The square is filled with the image's mean value (ZFNet's
# "grey"), which adds no strong new edges. At each position we record
# (b) the summed activation of the deepest convolutional map that fires
# most on the clean image, (d) the probability of the true class, and (e)
# the most probable class.

# %%
window, stride = 8, 2
maps_per_image = []
for number, index in enumerate(chosen):
    maps = occlusion(model, x_test[index], int(y_test[index]), window=window, stride=stride)
    side = conv_output_size(28, window, stride)
    assert maps.prob.shape == maps.activity.shape == (side, side) == (11, 11)
    assert np.all((maps.prob >= 0) & (maps.prob <= 1))
    maps_per_image.append(maps)
    if number < 3:
        show(plot_occlusion(x_test[index], maps, OUT / f"09_occlusion_{number}.png", classes=classes,
                            title=f"Occluding a {classes[y_test[index]]} (ZFNet Fig. 7 in kind)"))

# %% [markdown]
# Is the probability lowest where the square covers the garment? For each
# image, find the square position that hurts most and measure how much of
# that square lay on the object (pixels brighter than 0.1) rather than on
# the black background.

# %%
on_object = []
for maps, index in zip(maps_per_image, chosen):
    image = x_test[index, 0]
    cover = np.array([[np.mean(image[r:r + window, c:c + window] > 0.1) for c in maps.cols] for r in maps.rows])
    worst = np.unravel_index(np.argmin(maps.prob), maps.prob.shape)
    on_object.append(cover[worst])
    changed = np.mean(maps.top_class != maps.clean_class)
    print(f"{classes[y_test[index]]:>12}: p(true) clean {maps.clean_prob:.2f}, lowest {maps.prob.min():.2f} with "
          f"{cover[worst]:.0%} of the square on the object; the winning class changes at {changed:.0%} of positions")
share = np.mean(np.array(on_object) > 0.5)
print(f"the most damaging square lies mostly on the object for {share:.0%} of the images")
# what always holds: hiding part of the image can only be measured against the clean image,
# and somewhere the square costs the true class probability
assert all(maps.prob.min() <= maps.clean_prob + 1e-6 for maps in maps_per_image)

# %% [markdown]
# Read the lines above image by image rather than trusting one share: this
# network saw a few thousand images for three epochs, and the answer moves
# from run to run (a different rounding order in the matrix products is
# enough to change it). Two things show up again and again. Covering a
# distinctive part of the garment drops the probability and can flip the
# decision (filling the gap between a trouser's legs turns it into a dress).
# And the most damaging square often sits on the garment's *edge*, partly on
# the black background: a grey square there changes the silhouette, which
# is much of what separates a T-shirt from a shirt or a sandal from a
# sneaker. ZFNet's ImageNet model, trained for 70 epochs, localised its
# objects much more cleanly (Fig. 7); a well-trained model here does too.
#
# ## Invariance to translation, rotation and scale
#
# For a handful of correctly classified test images we apply each
# transform over a range of amounts and compute, at the first convolution
# and at the top hidden layer, the Euclidean distance between the feature
# vectors of the transformed and the original image. Both layers have
# different scales, so we also divide by the size of the original feature
# vector: the *relative* change.

# %%
images, labels = x_test[chosen], y_test[chosen]
curves = [invariance(model, images, labels, transform) for transform in ("translate", "rotate", "scale")]
show(plot_invariance(curves, OUT / "09_invariance.png"))

first, top = curves[0].layers
sizes = {layer: np.linalg.norm(extract_features(model, images, layer), axis=1) for layer in (first, top)}
relative = {}
for curve in curves:
    print(f"{curve.transform}: amounts {np.round(curve.amounts, 2).tolist()}")
    for layer in (first, top):
        relative[curve.transform, layer] = (curve.distances[layer] / sizes[layer][:, None]).mean(axis=0)
        print(f"   layer {layer:>2} relative change: {np.round(relative[curve.transform, layer], 2).tolist()}")
    print(f"   p(true class):           {np.round(curve.probability.mean(axis=0), 2).tolist()}")
    unchanged = np.isclose(curve.amounts, 0 if curve.transform != "scale" else 1)
    for layer in (first, top):
        assert np.allclose(curve.distances[layer][:, unchanged], 0)       # no transform, no change

# %% [markdown]
# A two-pixel shift changes the first layer's features by a large fraction
# of their size, the top layer's by much less: pooling and the wider
# receptive fields absorb small moves, as in ZFNet's Fig. 5. Rescaling
# behaves similarly. Rotation is another matter: the network never saw
# rotated clothes, and the true-class probability collapses within a few
# tens of degrees (it comes back, partly, near 180 degrees for garments
# that are roughly symmetric).

# %%
two_pixels = list(curves[0].amounts).index(2)
print(f"shift by 2 pixels: first layer {relative['translate', first][two_pixels]:.2f}, "
      f"top layer {relative['translate', top][two_pixels]:.2f} of the original feature size")
if not FAST:
    assert relative["translate", first][two_pixels] > relative["translate", top][two_pixels]

fig, ax = plt.subplots(figsize=(6, 3.6))
for layer, style in ((first, "o-"), (top, "s-")):
    ax.plot(curves[0].amounts, relative["translate", layer], style, label=f"layer {layer}")
ax.set_xlabel("vertical shift (pixels)")
ax.set_ylabel("relative change of the features")
ax.set_title("Small shifts move the first layer more than the top layer", fontsize=10)
ax.legend()
savefig(fig, "09_relative_change.png")

# %% [markdown]
# ## What to remember
#
# * occlusion asks the model, position by position, what it needs to see;
#   the answer is the object, not the background;
# * features become more stable under small shifts and rescalings layer by
#   layer; nothing in a plain convnet makes it rotation invariant.
#
# **At full budget** (`minicnn reproduce zfnet --budget full`, 3 seeds;
# `benchmarks/results/zfnet-full/index.html`): occlusion (claim 5) **holds**,
# a square on the object costing the true class 0.038 of probability against
# 0.014 on the background; invariance (claim 3) **holds**: under small
# shifts, rescalings and turns (within 15 degrees) layer 1 changes by 0.64,
# 0.56 and 0.60 of its size, the top layer by 0.45, 0.45 and 0.54, and the
# true class keeps 0.86 of its probability under shifts, 0.85 under
# rescaling, 0.13 under large turns. None of this tutorial's small-budget
# conclusions flips. Averaged over 50 images the drops are small: most
# squares cost the converged network little, and the one that costs much
# sits on a distinctive part (one square low on an ankle boot turns it into a
# sneaker).
#
# Next: how looking at the first layer's filters helped ZFNet choose its
# architecture (`10_architecture_selection.py`).
