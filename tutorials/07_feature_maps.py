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
# # 7. Feature maps and receptive fields
#
# A trained convnet turns an image into stacks of feature maps, one map
# per filter, layer after layer. Looking at them is the simplest way to see
# what the layers do (the VGG feature-map note): early maps are
# large and look like the image filtered for edges and strokes; deeper maps
# are small and abstract. Why they get more abstract is partly geometry:
# each deeper unit sees a larger part of the image, its *receptive field*.
#
# Where it lives in minicnn: `minicnn/visualize/feature_map_grids.py` (the
# maps), `minicnn/engine/shapes.py` (`receptive_field_step`), `minicnn/engine/nn/summary.py`
# (the receptive-field column), `minicnn/visualize/receptive_field.py`
# (which pixels one unit sees).

# %%
from common import FAST, OUT, Stopwatch, fashion_subset, savefig, show   # first: fast mode, figure folder, BLAS threads

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

import minicnn as mc
from minicnn import nn
from minicnn.models import get_model
from minicnn.engine.shapes import receptive_field_step
from minicnn.training.loop import evaluate, fit
from minicnn.visualize import feature_maps, plot_feature_maps, receptive_box

mc.manual_seed(0)

# %% [markdown]
# ## Receptive fields: three 3x3 layers see 7x7
#
# A unit of a 3x3 convolution sees 3x3 pixels. A unit of a second 3x3
# layer sees 3x3 units of the first, whose windows overlap and together
# cover 5x5 pixels; a third layer reaches 7x7 (VGG feature-map note). In general a
# window of F units spaced `jump` pixels apart adds (F - 1) * jump pixels,
# and a stride S multiplies the spacing by S:
#
#     field <- field + (F - 1) * jump,      jump <- jump * S
#
# `summary()` applies that rule layer by layer.

# %%
stack = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
fields = [row["receptive_field"] for row in stack.summary((1, 28, 28), print_table=False)]
print("three stacked 3x3 convolutions, receptive fields:", fields)
assert fields == [(3, 3), (5, 5), (7, 7)]

field, jump = 1, 1
for _ in range(3):
    field, jump = receptive_field_step(field, jump, kernel_size=3, stride=1)
assert field == 7

# %% [markdown]
# Check it without the formula: which input pixels can change the centre
# unit of the third layer? Its gradient with respect to the input answers
# that. With all weights set to 1 (so nothing cancels) the gradient is
# positive exactly inside the receptive field, and its value counts the
# paths from each pixel to the unit: the centre is reached in many more
# ways than the edge, so it matters more.

# %%
path_counts = []
for depth in (1, 2, 3):
    twin = nn.Sequential(*[nn.Conv2d(1, 1, 3, bias=False) for _ in range(depth)]).to("float64")
    for conv in twin:
        conv.weight.data[...] = 1.0
    x = mc.tensor(np.ones((1, 1, 15, 15)), requires_grad=True)
    out = twin(x)
    seed = np.zeros(out.shape)
    centre = out.shape[2] // 2
    seed[0, 0, centre, centre] = 1.0                     # d(centre unit)/d(input)
    out.backward(seed)
    support = np.argwhere(x.grad[0, 0] > 0)
    height, width = support.max(axis=0) - support.min(axis=0) + 1
    print(f"{depth} layer(s): the centre unit depends on a {height}x{width} block of pixels")
    assert (height, width) == (2 * depth + 1, 2 * depth + 1)
    path_counts.append(x.grad[0, 0])

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for depth, (ax, counts) in enumerate(zip(axes, path_counts), start=1):
    ax.imshow(counts, cmap="viridis")
    for (r, c), value in np.ndenumerate(counts):
        if value:
            ax.text(c, r, int(value), ha="center", va="center", color="w", fontsize=7)
    ax.set_title(f"{depth} stacked 3x3 conv(s): {2 * depth + 1}x{2 * depth + 1}", fontsize=9)
    ax.axis("off")
fig.suptitle("Which pixels reach the centre unit, and along how many paths (gradient, all weights 1)",
             fontsize=10)
savefig(fig, "07_receptive_field_growth.png")

# %% [markdown]
# Three 3x3 layers on C channels have 3 * 9 * C^2 weights; one 7x7 layer
# with the same receptive field has 49 * C^2, and only one ReLU instead of
# three. VGG16 is built that way: 13 convolutions, all 3x3 with stride 1
# and padding 1 (lecture notes).

# %%
three_small = sum(p.size for p in nn.Sequential(*[nn.Conv2d(64, 64, 3, bias=False) for _ in range(3)]).parameters())
one_large = sum(p.size for p in nn.Conv2d(64, 64, 7, bias=False).parameters())
print(f"64 channels: three 3x3 layers {three_small:,} weights, one 7x7 layer {one_large:,}")
assert (three_small, one_large) == (27 * 64 * 64, 49 * 64 * 64)

# %% [markdown]
# ## The receptive fields of a real network
#
# `zfnet_small` is ZFNet's layout shrunk to 28x28 (`minicnn/models/small.py`;
# here at `width=1`, a quarter of the default's parameters, to train in seconds):
# a 5x5 convolution, 3x3 max pools with stride 2, then three 3x3
# convolutions. Pooling and stride double the spacing between units, so
# each later 3x3 layer adds more pixels than the one before:

# %%
model = get_model("zfnet_small", width=1)
rows = model.summary((1, 28, 28), print_table=False)
field, jump = 1, 1
for row, layer in zip(rows, model):
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        field, jump = receptive_field_step(field, jump, layer.kernel_size[0], layer.stride[0])
        shape = "x".join(map(str, row["output_shape"]))
        print(f"layer {row['name']:>2} {row['layer'][:44]:<44} {shape:<9} field {field:>2}, jump {jump}")
        assert row["receptive_field"] == (field, field)
conv_fields = [row["receptive_field"][0] for row in rows if row["layer"].startswith("Conv2d")]
print("receptive fields of the convolutions:", conv_fields)

# %% [markdown]
# The last convolution's units see more than the whole 28x28 image (the
# rest is padding). Drawn on an image, for the unit in the
# middle of each layer's map (clipped at the border):

# %%
x_train, y_train, classes = fashion_subset("train", 20 if FAST else 300)
image = x_train[0]
conv_layers = [int(row["name"]) for row in rows if row["layer"].startswith("Conv2d")]
fig, ax = plt.subplots(figsize=(4.2, 4.2))
ax.imshow(image[0], cmap="gray")
for layer, color in zip(conv_layers, plt.cm.autumn(np.linspace(0, 1, len(conv_layers)))):
    height = rows[layer]["output_shape"][1]
    r0, r1, c0, c1 = receptive_box(model, layer, (height // 2, height // 2), (28, 28))
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor=color, lw=2,
                           label=f"layer {layer}: {r1 - r0}x{c1 - c0}"))
    if layer == conv_layers[0]:
        assert (r1 - r0, c1 - c0) == (5, 5)
ax.legend(fontsize=7, loc="lower right")
ax.set_title("What the centre unit of each conv layer sees", fontsize=9)
ax.axis("off")
savefig(fig, "07_receptive_boxes.png")

# %% [markdown]
# ## Feature maps of a trained network
#
# Train `zfnet_small` briefly (a few epochs on a few thousand images; fast
# mode: a token run), then run one test image through it and show every
# map of an early layer (after the first ReLU: one 28x28 map per filter of
# the first layer) and of a deep one (after the last convolution's ReLU:
# 7x7 maps), each map scaled to its own range.

# %%
x_test, y_test, _ = fashion_subset("test", 10 if FAST else 100)
with Stopwatch() as clock:
    fit(model, (x_train, y_train), None, epochs=1 if FAST else 3, lr=0.01, momentum=0.9, seed=0, progress=False)
result = evaluate(model, x_test, y_test)
print(f"trained in {clock.seconds:.0f} s; test accuracy {result.accuracy:.1%}")

early = conv_layers[0] + 1                               # the ReLU after the first convolution
deep = conv_layers[-1] + 1                               # the ReLU after the last one
assert isinstance(model[early], nn.ReLU) and isinstance(model[deep], nn.ReLU)
maps = feature_maps(model, x_test[0], [early, deep])
for layer, stack_of_maps in maps.items():
    active = (stack_of_maps > 0).mean()
    silent = int((stack_of_maps.reshape(len(stack_of_maps), -1).max(axis=1) <= 0).sum())
    print(f"layer {layer}: {stack_of_maps.shape[0]} maps of {stack_of_maps.shape[1]}x{stack_of_maps.shape[2]}, "
          f"{active:.0%} of the values are positive, {silent} maps entirely zero")
assert maps[early].shape == rows[early]["output_shape"] and maps[deep].shape == rows[deep]["output_shape"]
assert maps[early].shape[1:] == (28, 28) and maps[deep].shape[1:] == (7, 7)

fig = plt.figure(figsize=(12, 4.6))
panels = fig.subfigures(1, 3, width_ratios=[0.8, 2, 2])
ax = panels[0].subplots()
ax.imshow(x_test[0, 0], cmap="gray")
ax.set_title(f"input ({classes[y_test[0]]})", fontsize=9)
ax.axis("off")
for panel, layer, label in [(panels[1], early, "first ReLU"), (panels[2], deep, "last conv's ReLU")]:
    stack_of_maps = maps[layer]
    columns = int(np.ceil(np.sqrt(len(stack_of_maps))))
    grid_rows = -(-len(stack_of_maps) // columns)
    axes = panel.subplots(grid_rows, columns, squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < len(stack_of_maps):
            ax.imshow(stack_of_maps[index], cmap="gray", vmin=0, vmax=max(stack_of_maps[index].max(), 1e-6))
    count, height, width = stack_of_maps.shape
    panel.suptitle(f"layer {layer} ({label}): {count} maps of {height}x{width}", fontsize=10)
savefig(fig, "07_feature_maps.png")

# the same maps drawn by minicnn's own helper (minicnn/visualize/feature_map_grids.py)
show(plot_feature_maps(maps, OUT / "07_feature_maps_compact.png", max_maps=64, columns=8,
                       names={early: f"layer {early}", deep: f"layer {deep}"}))

# %% [markdown]
# The early maps are recognisably the garment, each filtered differently:
# some light up on edges of one orientation, some on flat bright regions,
# some on the background. The deep maps are 7x7 and no longer look like
# the image; each unit there sees most of it, and fires for combinations
# of the early features. Some are entirely zero for this image: the ReLU
# has switched off features that are not present.
#
# ## What to remember
#
# * receptive field: field += (F - 1) * jump per layer, jump *= stride;
#   three 3x3 convolutions see 7x7 with fewer weights than one 7x7;
# * the centre of a receptive field counts more than its edge;
# * early feature maps are large and image-like, deep ones small and abstract.
#
# Next: ZFNet's deconvnet, which shows what a single deep unit responds to
# in pixel space (`08_deconvnet.py`).
