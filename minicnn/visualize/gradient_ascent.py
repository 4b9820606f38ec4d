"""Filter visualization by gradient ascent in input space (lecture notes, docs/sources.md section 2).

What input makes map ``channel`` of ``model[layer]`` fire most? Start from a
faint random image x and climb the objective

    J(x) = mean over (i, j) of A_channel(x)[i, j]  -  l2 * sum(x^2)

with steps along its gradient, normalized so every step has the same size:

    x <- x + lr * g / (sqrt(mean(g^2)) + 1e-8),      g = dJ/dx

The L2 penalty keeps x from growing without bound. The gradient comes from
the autograd engine (the model's weights are frozen; only x moves). Several
maps are optimized at once, one image each.
"""

import numpy

from ..engine.backend import get_array_module, to_device, to_numpy
from ..engine.tensor import Tensor
from .figures import as_picture, display_range, new_figure, save, show
from .probe import check_sequential, evaluation, forward_to, frozen, layer_index


def maximize_activation(model, layer, channels, input_shape, steps=60, lr=0.05, l2=1e-3, init_scale=0.1,
                        seed=0, device=None, dtype=None):
    """Images that maximize the mean activation of each map in ``channels``.

    input_shape: (C, H, W). channels: a list of map indices of ``model[layer]``
    (a Linear layer's units count as 1x1 maps). Returns (images
    (len(channels), C, H, W), objective history (steps, len(channels)) NumPy).
    device, dtype: default to the model's first parameter's.
    """
    check_sequential(model, "maximize_activation")
    layer = layer_index(model, layer, "maximize_activation")
    channels = [int(c) for c in channels]
    parameters = model.parameters()
    device = device or (parameters[0].device if parameters else "cpu")
    dtype = dtype or (parameters[0].dtype if parameters else numpy.float32)
    start = numpy.random.default_rng(seed).standard_normal((len(channels),) + tuple(input_shape)) * init_scale
    x = to_device(start.astype(dtype), device)
    xp = get_array_module(x)
    history = []
    with evaluation(model), frozen(model):
        for _ in range(steps):
            image = Tensor(x, requires_grad=True)
            maps = forward_to(model, image, layer)
            shape = maps.shape if len(maps.shape) == 4 else maps.shape + (1, 1)
            pick = xp.zeros(shape, dtype=x.dtype)
            pick[xp.arange(len(channels)), xp.asarray(channels)] = 1.0 / (shape[2] * shape[3])
            pick = pick.reshape(maps.shape)
            objective = (maps * Tensor(pick)).sum() - (image * image).sum() * l2
            objective.backward()
            history.append(numpy.asarray((maps.data * pick).reshape(len(channels), -1).sum(axis=1).tolist()))
            grad = image.grad
            norm = xp.sqrt((grad * grad).reshape(len(channels), -1).mean(axis=1)).reshape(-1, 1, 1, 1)
            x = x + lr * grad / (norm + 1e-8)
    return x, numpy.stack(history)


def plot_patterns(images, path, channels=None, title=None, columns=8):
    """The optimized images in a grid, each scaled to its own range. Returns the PNG path."""
    images = display_range(to_numpy(images))
    rows = -(-len(images) // columns)
    figure = new_figure(1.3 * min(columns, len(images)), 1.4 * rows + 0.3)
    for i, image in enumerate(images):
        ax = figure.add_subplot(rows, min(columns, len(images)), i + 1)
        show(ax, as_picture(image), f"map {channels[i]}" if channels is not None else None)
    figure.suptitle(title or "Input patterns that maximize each map (gradient ascent)", fontsize=9)
    return save(figure, path)
