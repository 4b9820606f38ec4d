"""Bilinear resizing of maps with xp index arithmetic (no scipy).

Pixel centres are matched, as PyTorch's ``interpolate(..., align_corners=False)``
and OpenCV's ``resize`` do: output pixel i of n_out sits at input coordinate

    u = (i + 0.5) * n_in / n_out - 0.5         clamped to [0, n_in - 1]

and takes (1 - t) * a[floor(u)] + t * a[floor(u) + 1] with t = u - floor(u),
first along rows, then along columns.
"""

from ..engine.backend import get_array_module


def _axis_weights(n_in, n_out, xp):
    """For each output position: the two source indices and the weight of the second."""
    u = (xp.arange(n_out, dtype=xp.float64) + 0.5) * (n_in / n_out) - 0.5
    u = xp.clip(u, 0, n_in - 1)
    low = xp.floor(u).astype(xp.int64)
    high = xp.minimum(low + 1, n_in - 1)
    return low, high, u - low


def resize_bilinear(maps, size):
    """maps: (..., h, w) -> (..., H, W) with size = (H, W), bilinear; keeps the dtype."""
    xp = get_array_module(maps)
    height, width = size
    low, high, t = _axis_weights(maps.shape[-2], height, xp)
    rows = maps[..., low, :] * (1 - t)[:, None] + maps[..., high, :] * t[:, None]
    low, high, t = _axis_weights(maps.shape[-1], width, xp)
    return (rows[..., low] * (1 - t) + rows[..., high] * t).astype(maps.dtype)
