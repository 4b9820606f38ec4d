"""Class activation heatmaps by Grad-CAM (Selvaraju et al. 2017; lecture notes, docs/sources.md section 2).

Which part of the image drove the score of class c? Take the maps A_k
(K maps of h x w) of a convolutional layer and the gradient of the class
score y_c (the logit) with respect to them:

    alpha_k = mean over (i, j) of d y_c / d A_k[i, j]        how much map k matters for c
    cam     = ReLU( sum_k alpha_k A_k )                       (h, w): where those maps fire

then upsample cam bilinearly to the image size. The ReLU keeps the places
that raise the score. Gradients come from the autograd engine: the layer's
output is made a leaf, the rest of the network runs on it, and backward
stops there.
"""

from dataclasses import dataclass

from ..engine.backend import get_array_module, to_numpy
from ..engine.tensor import Tensor, no_grad
from .figures import as_picture, display_range, new_figure, save, show
from .probe import as_batch, check_sequential, evaluation, forward_to, frozen, last_spatial_layer, layer_index
from .resample import resize_bilinear


@dataclass
class GradCam:
    """Grad-CAM for N images.

    coarse:  (N, h, w) ReLU(sum_k alpha_k A_k) at the layer's resolution
    heatmap: (N, H, W) coarse upsampled to the image and divided by its
             maximum (values in [0, 1]; all zero if the class found no support)
    weights: (N, K) the alpha_k
    layer:   which layer's maps were used
    """

    coarse: object
    heatmap: object
    weights: object
    layer: int


def grad_cam(model, x, target, layer=None):
    """Grad-CAM heatmaps of class ``target`` (an int or (N,) ints) for images x (N, C, H, W).

    layer: a layer whose output is maps (C, h, w); None picks the last such
    layer. The model's output must be logits.
    """
    check_sequential(model, "grad_cam")
    x = as_batch(x, "grad_cam")
    xp = get_array_module(x)
    if layer is None:
        layer = last_spatial_layer(model, x.shape[1:], "grad_cam")
    layer = layer_index(model, layer, "grad_cam")
    with evaluation(model), frozen(model):
        with no_grad():
            maps = forward_to(model, x, layer).data                      # A: (N, K, h, w)
        if maps.ndim != 4:
            raise ValueError(f"grad_cam: layer {layer} outputs shape {tuple(maps.shape)}, not maps (N, K, h, w)")
        leaf = Tensor(maps, requires_grad=True)
        logits = leaf
        for module in list(model)[layer + 1:]:
            logits = module(logits)
        count = len(x)
        pick = xp.zeros(logits.shape, dtype=logits.dtype)
        targets = xp.asarray(target, dtype=xp.int64) * xp.ones(count, dtype=xp.int64)
        pick[xp.arange(count), targets] = 1.0                            # d(sum_n y_c[n]) / d logits
        logits.backward(pick)
    weights = leaf.grad.mean(axis=(2, 3))                                 # alpha: (N, K)
    coarse = (weights[:, :, None, None] * maps).sum(axis=1)
    coarse = coarse * (coarse > 0)
    heatmap = resize_bilinear(coarse, x.shape[2:])
    peak = heatmap.reshape(count, -1).max(axis=1).reshape(count, 1, 1)
    heatmap = heatmap / xp.where(peak > 0, peak, 1.0)
    return GradCam(coarse, heatmap, weights, layer)


def plot_grad_cam(x, cams, path, labels=None, title=None):
    """Images with their Grad-CAM heatmaps laid over them. Returns the PNG path."""
    images = display_range(to_numpy(as_batch(x, "plot_grad_cam")))
    heatmaps = to_numpy(cams.heatmap)
    figure = new_figure(1.8 * len(images), 2.0)
    for i, (image, heat) in enumerate(zip(images, heatmaps)):
        ax = figure.add_subplot(1, len(images), i + 1)
        show(ax, as_picture(image), labels[i] if labels is not None else None)
        ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    figure.suptitle(title or f"Grad-CAM on layer {cams.layer}", fontsize=9)
    return save(figure, path)
