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
# # 12. Small data: overfitting, augmentation and dropout
#
# The lecture notes tell a cats-versus-dogs story (their Keras example): with a
# couple of thousand photos, a small convnet soon classifies its training
# images perfectly (100%) while staying near 70% on validation images. It
# has memorised the training set. Two remedies lift it to about 82%: *data
# augmentation* (random rotations up to 40 degrees, shifts and zooms of
# 20%, shear, horizontal flips) and *dropout* before the dense layer; using
# features of a network pretrained on a large data set reaches about 90%.
# (Only if the pretraining covers the new images: on Fashion-MNIST, trained
# to convergence, features pretrained on five kinds of clothes lose to
# training from scratch on a few shoes and bags, and win on the five kinds
# they were trained on. See ZFNet's claim 8 in the README,
# `benchmarks/results/zfnet-full/`.)
#
# We retell the story on a deliberately tiny Fashion-MNIST training set:
# 30 images per class. Same network, same budget, with and without the
# remedies.
#
# Where it lives in minicnn: `minicnn/data/transforms.py` (`keras_example`
# and the random transforms), `minicnn/data/geometry.py` (how an image is
# rotated or sheared), `minicnn/engine/functional/activation.py` (dropout),
# `minicnn/training/loop.py` (`fit(..., transform=...)`).

# %%
from common import FAST, OUT, Stopwatch, fashion_subset, savefig, show   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt

import minicnn as mc
from minicnn import nn
from minicnn.training import plots
from minicnn.data import Compose, RandomHorizontalFlip, RandomShift, keras_example
from minicnn.training.loop import evaluate, fit

mc.manual_seed(0)

# %% [markdown]
# ## The data and the network
#
# 30 training images per class (fast mode: 5) and a separate validation
# set. The network is the Keras-style convnet of lesson 6, optionally with
# a dropout layer (p = 0.5) between flattening and the dense layer, where
# the lecture notes put it.

# %%
per_class, epochs = (5, 2) if FAST else (30, 45)
x_train, y_train, classes = fashion_subset("train", per_class)
x_val, y_val, _ = fashion_subset("test", 5 if FAST else 20)
print(f"training images: {len(x_train)}, validation images: {len(x_val)}")


def small_convnet(dropout=0.0):
    """The lecture notes' Keras convnet; dropout > 0 adds nn.Dropout(dropout) before the dense layer."""
    layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


# %% [markdown]
# ## Augmentation
#
# `keras_example()` is the notes' recipe: rotation up to 40 degrees,
# shifts of 20% of the size, shear 0.2, zoom 0.2, horizontal flips,
# borders filled with the nearest pixel. Each training batch gets fresh
# random draws, so the network never sees exactly the same image twice.
# Here is what it does to some of our training images:

# %%
recipe = keras_example(seed=0)
rng = np.random.default_rng(0)
originals = x_train[:8]
augmented = [recipe(originals, rng) for _ in range(3)]
assert all(a.shape == originals.shape and a.dtype == originals.dtype for a in augmented)
fig, axes = plt.subplots(4, 8, figsize=(10, 5.4))
for row, batch in enumerate([originals] + augmented):
    for column in range(8):
        axes[row, column].imshow(batch[column, 0], cmap="gray", vmin=0, vmax=1)
        axes[row, column].axis("off")
    axes[row, 0].set_title("original" if row == 0 else f"draw {row}", fontsize=8, loc="left")
fig.suptitle("The lecture notes' augmentation (keras_example) on Fashion-MNIST", fontsize=10)
savefig(fig, "12_augmented_examples.png")

# %% [markdown]
# Cats and dogs appear in photos at every angle and place. Fashion-MNIST
# garments do not: every image is centred, upright and the same size, and
# so are the test images. A trouser rotated by 40 degrees or a bag pushed
# a fifth of the way out of the frame is not what the model will be asked
# about. So we also try a gentle version: shifts of up to 10% (2 pixels,
# zero fill) and horizontal flips, which do produce plausible garments.

# %%
gentle = Compose([RandomShift(0.1, fill="constant", seed=1), RandomHorizontalFlip(0.5, seed=2)])

# %% [markdown]
# ## Three runs, one budget
#
# The same initial weights (same seed), data order, learning rate 0.01
# with momentum 0.9, batch 64, and number of epochs.

# %%
runs = {
    "plain": (0.0, None),
    "notes' augmentation + dropout": (0.5, recipe),
    "gentle augmentation + dropout": (0.5, gentle),
}
histories, models = {}, {}
for name, (dropout, transform) in runs.items():
    mc.manual_seed(0)
    model = models[name] = small_convnet(dropout)
    with Stopwatch() as clock:
        histories[name] = fit(model, (x_train, y_train), (x_val, y_val), epochs=epochs, batch_size=64, lr=0.01,
                              momentum=0.9, seed=0, transform=transform, progress=False)
    history = histories[name]
    print(f"{name:>30}: {clock.seconds:5.1f} s; last epoch train accuracy {history['train_accuracy'][-1]:.0%}, "
          f"validation accuracy {history['val_accuracy'][-1]:.0%} (best {max(history['val_accuracy']):.0%}), "
          f"validation loss {history['val_loss'][-1]:.2f} (lowest {min(history['val_loss']):.2f})")
    assert len(history) == epochs and np.all(np.isfinite(history["train_loss"]))

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
for (name, history), color in zip(histories.items(), ("C0", "C1", "C2")):
    axes[0].plot(history["epoch"], history["train_accuracy"], "--", color=color)
    axes[0].plot(history["epoch"], history["val_accuracy"], "-", color=color, label=name)
    axes[1].plot(history["epoch"], np.array(history["train_accuracy"]) - np.array(history["val_accuracy"]),
                 color=color, label=name)
    axes[2].plot(history["epoch"], history["val_loss"], color=color, label=name)
axes[0].set_title("accuracy (dashed: training, solid: validation)", fontsize=9)
axes[1].set_title("training minus validation accuracy", fontsize=9)
axes[2].set_title("validation loss", fontsize=9)
for ax in axes:
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
axes[2].legend(fontsize=8)
savefig(fig, "12_overfitting_curves.png")
show(plots.plot_curves(histories["plain"], OUT / "12_curves_plain.png", title="plain: loss and accuracy"))

# %% [markdown]
# ## Reading the curves
#
# * **Plain**: training accuracy climbs to (nearly) 100% within a few
#   dozen epochs while validation accuracy stalls far below, and the
#   validation loss stops falling and starts to rise: the network grows
#   more and more confident on training images it has memorised. That is
#   the notes' cats-vs-dogs picture, 100% against about 70%.
# * **With augmentation and dropout** the training task is harder: the
#   training accuracy stays close to the validation accuracy, and the
#   validation loss keeps falling. Overfitting is under control.
# * The notes' full recipe distorts these centred, upright images so much
#   that, in this budget, the network learns them more slowly; the gentle
#   version fits this data better. What the notes report for cats and dogs
#   (70% to 82%) came after a hundred epochs; augmentation buys accuracy
#   with training time, and only when the variation it adds is variation
#   the real data has.

# %%
# %% [markdown]
# The training accuracy that `fit` reports is measured on the batches as
# trained: augmented, with dropout active. To compare like with like,
# evaluate every model on the original training images, in evaluation mode:

# %%
gaps = {}
for name, model in models.items():
    on_train = evaluate(model, x_train, y_train).accuracy
    on_val = evaluate(model, x_val, y_val).accuracy
    gaps[name] = on_train - on_val
    print(f"{name:>30}: training images {on_train:.0%}, validation images {on_val:.0%}, gap {gaps[name]:+.0%}")
    if name == "plain" and not FAST:
        assert on_train >= 0.95                                      # it has memorised the training set
if not FAST:
    assert gaps["plain"] > gaps["gentle augmentation + dropout"]
    assert gaps["plain"] > gaps["notes' augmentation + dropout"]

# %% [markdown]
# ## What dropout does
#
# In training mode each value is zeroed with probability p and the rest
# are scaled by 1/(1 - p), so the expected value is unchanged; in
# evaluation mode the layer does nothing. A unit can never rely on one
# particular other unit being there, which discourages memorising.

# %%
layer = nn.Dropout(0.5)
ones = mc.tensor(np.ones((1, 10000), np.float32))
kept = layer(ones).numpy()
print(f"training mode: {np.mean(kept == 0):.1%} zeroed, survivors scaled to {kept.max():.1f}, mean {kept.mean():.3f}")
assert set(np.unique(kept)) <= {0.0, 2.0} and abs(kept.mean() - 1.0) < 0.05
layer.eval()
assert np.array_equal(layer(ones).numpy(), ones.numpy())
print("evaluation mode: the identity")

# %% [markdown]
# ## What to remember
#
# * with little data, training accuracy says nothing: watch the validation
#   curves, especially the loss;
# * augmentation and dropout narrow the gap between training and
#   validation; augmentation must produce images like the real ones;
# * the notes' last step, features from a network trained on much more
#   data, is lesson 11's frozen-feature classifier in a different setting.
