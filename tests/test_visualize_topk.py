"""Receptive-field boxes against a direct computation, and top_k against brute force."""

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn
from minicnn.engine.backend import default_device, to_device, to_numpy
from minicnn.engine.shapes import ShapeError
from minicnn.visualize import Deconvnet, receptive_box, receptive_boxes, top_k, top_k_many


# ------------------------------------------------------------ receptive fields

def window_layers(draw, count):
    """``count`` random (kind, kernel, stride, padding, dilation) windows: convolutions
    (grouped and dilated too), max pools (dilated too) and average pools."""
    layers = []
    for _ in range(count):
        kind = draw(st.sampled_from(["conv", "grouped conv", "pool", "average pool"]))
        kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        limit = (kernel[0] // 2, kernel[1] // 2) if "pool" in kind else (kernel[0] - 1, kernel[1] - 1)
        padding = (draw(st.integers(0, limit[0])), draw(st.integers(0, limit[1])))
        dilation = (1, 1) if kind == "average pool" else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        layers.append((kind, kernel, stride, padding, dilation))
    return layers


def window_module(kind, kernel, stride, padding, dilation):
    """The layer a drawn window stands for (2 channels, so that groups=2 can split them)."""
    if kind == "conv":
        return nn.Conv2d(2, 2, kernel, stride, padding, dilation)
    if kind == "grouped conv":
        return nn.Conv2d(2, 2, kernel, stride, padding, dilation, groups=2)
    if kind == "pool":
        return nn.MaxPool2d(kernel, stride, padding, dilation=dilation)
    return nn.AvgPool2d(kernel, stride, padding)


def gradient_support(layers, size, unit):
    """Direct computation: which pixels the unit's value depends on.

    Every window becomes a 1-channel convolution with all-ones weights (so no
    max, ReLU or cancellation can hide a pixel; groups choose channels, not
    pixels); on an all-ones input the input-gradient of the unit is positive
    exactly where the unit looks.
    """
    twin = nn.Sequential(*[nn.Conv2d(1, 1, k, s, p, d, bias=False) for _, k, s, p, d in layers]).to("float64")
    for conv in twin:
        conv.weight.data[...] = 1.0
    x = mc.Tensor(np.ones((1, 1) + size), requires_grad=True)
    out = twin(x)
    seed = np.zeros(out.shape)
    seed[(0, 0) + tuple(unit)] = 1.0
    out.backward(seed)
    rows, cols = np.nonzero(x.grad[0, 0])
    if rows.size == 0:                   # every tap of the unit's windows fell on padding
        return None, None, None, None, 0
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1, np.count_nonzero(x.grad)


@given(data=st.data())
def test_receptive_box_matches_the_pixels_with_nonzero_gradient(data):
    layers = window_layers(data.draw, data.draw(st.integers(1, 4)))
    size = (data.draw(st.integers(8, 20)), data.draw(st.integers(8, 20)))
    modules = []
    for layer in layers:
        modules.append(window_module(*layer))
        modules.append(nn.ReLU())
    model = nn.Sequential(*modules)
    try:
        out = model.output_shape((2,) + size)
    except ShapeError:
        reject()
    unit = (data.draw(st.integers(0, out[1] - 1)), data.draw(st.integers(0, out[2] - 1)))
    r0, r1, c0, c1, count = gradient_support(layers, size, unit)
    box = receptive_box(model, len(model) - 1, unit, size)
    if count == 0:
        # the unit reads only padding (e.g. a dilated window over a 1-row map): its box
        # is empty along one axis at least, (0, 0) there
        assert box[0:2] == (0, 0) or box[2:4] == (0, 0), box
        return
    assert box == (r0, r1, c0, c1)
    if all(k[0] >= s[0] and k[1] >= s[1] and d == (1, 1) for _, k, s, _, d in layers):
        assert count == (r1 - r0) * (c1 - c0)      # no stride or dilation skips a pixel: the whole box


def test_receptive_box_of_stacked_dilated_windows_skips_what_no_tap_reads():
    """Rows, one layer at a time: the top unit of a (2 taps, 3 apart) convolution reads rows
    0 and 3 of a (3 taps, 3 apart, padding 2) one below, which read image rows {1, 4} and
    {1, 4, 7}: the box is 1..7. Rows 1 and 2 of the lower layer, between 0 and 3, would
    read row 0 as well, but nothing reads them."""
    layers = [("conv", (3, 1), (1, 1), (2, 0), (3, 1)), ("conv", (2, 1), (1, 1), (0, 0), (3, 1))]
    model = nn.Sequential(*[window_module(*layer) for layer in layers])
    assert gradient_support(layers, (10, 3), (0, 1))[:4] == (1, 8, 1, 2)
    assert receptive_box(model, 1, (0, 1), (10, 3)) == (1, 8, 1, 2)


def test_a_unit_that_reads_only_padding_has_an_empty_box():
    """Found by hypothesis: two stride-3 windows leave a 1-row map, and a (2 taps, 2 apart,
    padding 1) convolution over it reads rows -1 and 1, both padding: no pixel reaches the
    unit (its input gradient is zero everywhere), and its box has no rows."""
    layers = [("conv", (1, 1), (3, 1), (0, 0), (1, 1)), ("average pool", (1, 1), (3, 1), (0, 0), (1, 1)),
              ("conv", (2, 1), (1, 1), (1, 0), (2, 1))]
    model = nn.Sequential(*[window_module(*layer) for layer in layers])
    assert gradient_support(layers, (8, 8), (0, 0))[4] == 0
    assert receptive_box(model, 2, (0, 0), (8, 8)) == (0, 0, 0, 1)


def test_receptive_box_of_a_position_outside_the_maps_is_an_index_error():
    with pytest.raises(IndexError, match="outside the 8x8 maps of layer 0"):
        receptive_box(nn.Sequential(nn.Conv2d(1, 1, 3)), 0, (8, 0), (10, 10))


def test_receptive_box_of_zfnet_small_corner_units():
    # conv 5x5 pad 2, then a 3x3/2 max pool with ceil_mode: pool unit 13 reads conv
    # rows 26..28 (28 is padding), which see image rows 24..30, clipped to 24..27.
    model = nn.Sequential(nn.Conv2d(1, 2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True))
    assert receptive_box(model, 2, (13, 13), (28, 28)) == (24, 28, 24, 28)
    assert receptive_box(model, 2, (0, 1), (28, 28)) == (0, 5, 0, 7)
    assert receptive_box(model, 0, (5, 5), (28, 28)) == (3, 8, 3, 8)


def test_dense_units_see_the_whole_image():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3), nn.ReLU())
    assert receptive_boxes(model, 3, [(0, 0), (0, 0)], (8, 8)).tolist() == [[0, 8, 0, 8]] * 2


# ------------------------------------------------------------ top_k

def small_model():
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(3, 4, 2), nn.ReLU())


def brute_force_top_k(maps, k, distinct_images):
    """Sort every candidate (value desc, image, row, col) by hand."""
    candidates = []
    for n, plane in enumerate(maps):
        if distinct_images:
            r, c = np.unravel_index(plane.argmax(), plane.shape)
            candidates.append((-plane[r, c], n, r, c))
        else:
            candidates += [(-plane[r, c], n, r, c) for r in range(plane.shape[0]) for c in range(plane.shape[1])]
    return sorted(candidates)[:k]


@pytest.mark.parametrize("distinct_images", [True, False])
def test_top_k_returns_the_k_largest_in_descending_order(backend_name, distinct_images):
    mc.manual_seed(2)
    model = small_model().to("float64")
    images = to_device(np.random.default_rng(4).standard_normal((11, 1, 12, 12)), default_device())
    layer, channel, k = 4, 2, 5
    # the maps in the same batches of 4 that top_k uses: a GPU's matrix product may round
    # the last bit differently for another batch size, and the values are compared exactly
    maps = np.concatenate([to_numpy(Deconvnet(model).up(images[i:i + 4], layer).activations)[:, channel]
                         for i in range(0, 11, 4)])
    expected = brute_force_top_k(maps, k, distinct_images)
    result = top_k(model, images, layer, channel, k=k, batch_size=4, distinct_images=distinct_images)
    assert result.indices.tolist() == [n for _, n, _, _ in expected]
    assert result.positions.tolist() == [[r, c] for _, _, r, c in expected]
    np.testing.assert_array_equal(result.values, [-v for v, _, _, _ in expected])
    assert (np.diff(result.values) <= 0).all()
    deconv = Deconvnet(model)
    for i, (n, position) in enumerate(zip(result.indices, result.positions)):
        single = deconv.project(images[n:n + 1], layer, channel, tuple(position))[0]
        # one image alone against the same image inside a batch: a GPU's matrix product
        # picks other kernels for other shapes and may differ in the last bit (float64)
        np.testing.assert_allclose(to_numpy(result.projections[i]), to_numpy(single), rtol=1e-12, atol=1e-15)
        r0, r1, c0, c1 = result.boxes[i]
        np.testing.assert_array_equal(to_numpy(result.patches[i]), to_numpy(images[n, :, r0:r1, c0:c1]))
        assert (r0, r1, c0, c1) == receptive_box(model, layer, tuple(position), (12, 12))


def test_top_k_many_equals_one_channel_at_a_time():
    mc.manual_seed(2)
    model = small_model()
    images = np.random.default_rng(5).standard_normal((9, 1, 12, 12)).astype(np.float32)
    many = top_k_many(model, images, 1, [0, 2], k=3, batch_size=4)
    for result in many:
        single = top_k(model, images, 1, result.channel, k=3)
        assert result.indices.tolist() == single.indices.tolist()
        np.testing.assert_array_equal(result.projections, single.projections)


def test_top_k_refuses_more_images_than_it_has():
    with pytest.raises(ValueError, match="k=9 distinct images"):
        top_k(small_model(), np.zeros((4, 1, 12, 12), np.float32), 1, 0, k=9)
