"""Architecture selection from the first-layer filters (ZFNet Fig. 6).

ZFNet looked at AlexNet's first layer (11x11 filters, stride 4) and saw a
mix of very high and very low frequencies with little in between, and some
"dead" filters; 7x7 filters with stride 2 fixed both. It also renormalized
every filter whose RMS exceeds 0.1 (minicnn.engine.optim.renormalize_filters) so
that no filter dominates. This module measures those things for a trained
model's first Conv2d:

    rms[f]         = sqrt(mean(w[f]^2))
    dead (weights) = rms[f] < dead_fraction * median_f rms[f]     (a filter that faded away; the
                     median, so that one dominating filter does not make the rest look dead)
    dead (data)    = conv output of filter f never positive on the images
                     (its ReLU never lets anything through)
    spectrum[f]    = mean over input channels of |FFT2(w[f, c])|, zero-padded to
                     ``fft_size`` x ``fft_size`` and centred (zero frequency in the middle)
    high share[f]  = energy of the spectrum above ``cutoff`` cycles/pixel / total energy

Training the two models is the caller's job (a tutorial does it at small
scale); ``compare_first_layers`` takes them trained.
"""

from dataclasses import dataclass

import numpy

from ..engine.backend import to_numpy
from ..engine.nn import Conv2d, Parameter, Sequential
from ..engine.optim import renormalize_filters
from .figures import as_picture, new_figure, save, show, tile
from .probe import as_batch, batched_collect, evaluation
from .receptive_field import leaves


@dataclass
class FilterReport:
    """The first-layer filters of one model, measured.

    name:              a label ("11x11 / stride 4", ...)
    weights:           (F, C, KH, KW) the filters, as trained
    renormalized:      (F, C, KH, KW) after rescaling those with RMS > radius to radius
    rms:               (F,) RMS of each filter
    dead_by_weight:    (F,) bool, RMS below dead_fraction of the median RMS
    dead_by_activation:(F,) bool, never positive on the images (None without images)
    spectrum:          (F, S, S) centred FFT magnitude, S = fft_size
    frequencies:       (S,) cycles per pixel along each spectrum axis
    high_share:        (F,) fraction of spectral energy above the cutoff
    kernel_size, stride: the layer's settings
    """

    name: str
    weights: numpy.ndarray
    renormalized: numpy.ndarray
    rms: numpy.ndarray
    dead_by_weight: numpy.ndarray
    dead_by_activation: object
    spectrum: numpy.ndarray
    frequencies: numpy.ndarray
    high_share: numpy.ndarray
    kernel_size: tuple
    stride: tuple

    @property
    def dead_count(self):
        """Filters dead by either test."""
        dead = self.dead_by_weight.copy()
        if self.dead_by_activation is not None:
            dead |= self.dead_by_activation
        return int(dead.sum())


def first_conv(model):
    """(index among the leaf layers, the first Conv2d layer) of a model."""
    for index, module in enumerate(leaves(list(model))):
        if isinstance(module, Conv2d):
            return index, module
    raise ValueError("no Conv2d layer in this model")


def filter_spectrum(weights, fft_size=32):
    """Centred FFT magnitude of each filter, averaged over input channels.

    weights: (F, C, KH, KW). Returns (spectrum (F, S, S), frequencies (S,) in
    cycles per pixel, from -0.5 up). Zero-padding to one size S puts filters
    of different sizes on the same frequency grid.
    """
    size = max(fft_size, *weights.shape[2:])
    magnitude = numpy.abs(numpy.fft.fft2(weights.astype(numpy.float64), s=(size, size)))
    spectrum = numpy.fft.fftshift(magnitude.mean(axis=1), axes=(-2, -1))
    return spectrum, numpy.fft.fftshift(numpy.fft.fftfreq(size))


def filter_report(model, images=None, name=None, radius=0.1, dead_fraction=0.05, fft_size=32,
                  cutoff=0.25, batch_size=64):
    """Measure the first Conv2d of ``model`` (see the module docstring). Returns FilterReport.

    images: optional (N, C, H, W) prepared inputs for the activation test.
    """
    index, conv = first_conv(model)
    weights = to_numpy(conv.weight.data).astype(numpy.float64)
    copy = Parameter(weights.copy())
    renormalize_filters([copy], radius)
    rms = numpy.sqrt((weights ** 2).mean(axis=(1, 2, 3)))
    dead_by_weight = rms < dead_fraction * numpy.median(rms)
    dead_by_activation = None
    if images is not None:
        images = as_batch(images, "filter_report")
        with evaluation(model):
            responses = batched_collect(conv_only(model, index), images, [0], batch_size)[0]
        dead_by_activation = ~to_numpy((responses > 0).any(axis=(0, 2, 3)))
    spectrum, frequencies = filter_spectrum(weights, fft_size)
    radial = numpy.hypot(frequencies[:, None], frequencies[None, :])
    energy = spectrum ** 2
    high_share = energy[:, radial > cutoff].sum(axis=1) / numpy.maximum(energy.sum(axis=(1, 2)), 1e-30)
    label = name or f"{conv.kernel_size[0]}x{conv.kernel_size[1]} filters, stride {conv.stride[0]}"
    return FilterReport(label, weights, copy.data, rms, dead_by_weight, dead_by_activation, spectrum,
                        frequencies, high_share, conv.kernel_size, conv.stride)


def conv_only(model, index):
    """A Sequential of the leaf layers up to the first Conv2d (for its raw responses)."""
    return Sequential(*leaves(list(model))[:index + 1])


def compare_first_layers(model_a, model_b, images=None, names=None, **settings):
    """Fig. 6's comparison: ``filter_report`` for two models trained on the same data.

    Typically model_a has a large first layer (e.g. 9x9 stride 3, AlexNet-like)
    and model_b a small one (e.g. 5x5 stride 1, ZFNet-like). Returns [report_a, report_b].
    """
    names = names or (None, None)
    return [filter_report(model, images, name, **settings) for model, name in zip((model_a, model_b), names)]


def _filter_grid(weights, shared_scale):
    """Filters (F, C, KH, KW) as one tiled picture; grey = 0, one scale for all filters."""
    pictures = numpy.stack([as_picture(w) for w in weights])
    scale = numpy.abs(pictures).max() if shared_scale else None
    if scale is None or scale == 0:
        scale = 1.0
    shown = 0.5 + 0.5 * pictures / scale
    return tile(numpy.clip(shown, 0, 1), columns=int(numpy.ceil(numpy.sqrt(len(weights)))))


def plot_first_layers(reports, path, title=None):
    """Draw Fig. 6: per model, filters as trained, renormalized, and their spectra.

    Filters in each grid share one grey scale (grey = 0), so a filter that
    dominates the layer stands out before renormalization and not after.
    Returns the PNG path.
    """
    figure = new_figure(10, 3.3 * len(reports))
    for row, report in enumerate(reports):
        dead = report.dead_count
        high = float(report.high_share.mean())
        axes = [figure.add_subplot(len(reports), 3, 3 * row + i + 1) for i in range(3)]
        show(axes[0], _filter_grid(report.weights, True), f"{report.name}\nas trained ({dead} dead)")
        show(axes[1], _filter_grid(report.renormalized, True), "RMS renormalized (radius 0.1)")
        spectra = report.spectrum / numpy.maximum(report.spectrum.max(axis=(1, 2), keepdims=True), 1e-30)
        columns = int(numpy.ceil(numpy.sqrt(len(spectra))))
        show(axes[2], tile(spectra, columns), f"|FFT| per filter (centre = DC)\nhigh-frequency share {high:.2f}",
             cmap="magma")
    figure.suptitle(title or "First-layer filters: architecture selection (ZFNet Fig. 6)", fontsize=10)
    figure.tight_layout()
    return save(figure, path)
