"""Occlusion sensitivity against a brute-force loop; occlusion attribution against hand-checked cases."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import nn
from minicnn.engine.backend import default_device, to_device, to_numpy
from minicnn.engine.shapes import ShapeError
from minicnn.engine.tensor import no_grad
from minicnn.visualize import occlusion, occlusion_attribution, occlusion_starts


def small_classifier(channels=2, size=(9, 11), classes=4):
    mc.manual_seed(7)
    conv = nn.Conv2d(channels, 3, 3)
    h, w = (size[0] - 2) // 2, (size[1] - 2) // 2
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(3 * h * w, classes)).to("float64")


def run(model, x, layer):
    """(layer output, probabilities) of one image, by hand, in eval mode."""
    model.eval()
    with no_grad():
        h = mc.tensor(x[None])
        outputs = []
        for module in model:
            h = module(h)
            outputs.append(to_numpy(h.data))
    logits = outputs[-1][0]
    probs = np.exp(logits - logits.max())
    return outputs[layer][0], probs / probs.sum()


def test_occlusion_maps_match_a_brute_force_loop(backend_name):
    model = small_classifier().to(default_device())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 11))
    window, stride, target, layer = 3, 2, 1, 2
    maps = occlusion(model, to_device(x, default_device()), target, window, stride, layer=layer, batch_size=4)
    model.train()                                               # occlusion must not depend on the mode
    clean_maps, clean_probs = run(model, x, layer)
    channel = int(clean_maps.reshape(3, -1).max(axis=1).argmax())
    assert maps.channel == channel and maps.layer == layer
    fill = x.mean(axis=(1, 2))
    rows, cols = (9 - window) // stride + 1, (11 - window) // stride + 1
    assert maps.activity.shape == maps.prob.shape == maps.top_class.shape == (rows, cols)
    for i in range(rows):
        for j in range(cols):
            occluded = x.copy()
            occluded[:, i * stride:i * stride + window, j * stride:j * stride + window] = fill[:, None, None]
            activity, probs = run(model, occluded, layer)
            assert maps.activity[i, j] == pytest.approx(activity[channel].sum(), rel=1e-10)
            assert maps.prob[i, j] == pytest.approx(probs[target], rel=1e-10)
            assert maps.top_class[i, j] == probs.argmax()
    assert maps.clean_prob == pytest.approx(clean_probs[target], rel=1e-10)
    assert maps.rows.tolist() == list(range(0, rows * stride, stride))


def test_occlusion_with_a_given_fill_and_default_layer():
    model = small_classifier()
    x = np.random.default_rng(1).standard_normal((2, 9, 11))
    maps = occlusion(model, x, 0, window=9, stride=1, fill=(0.5, -1.0))
    assert maps.layer == 2                       # the last layer whose output is maps
    assert maps.activity.shape == (1, 3)
    occluded = x.copy()
    occluded[0, :, 1:10], occluded[1, :, 1:10] = 0.5, -1.0
    assert maps.prob[0, 1] == pytest.approx(run(model, occluded, 2)[1][0], rel=1e-10)


@given(size=st.integers(3, 30), window=st.integers(1, 30), stride=st.integers(1, 6))
def test_number_of_positions_follows_the_shape_formula(size, window, stride):
    if window > size:
        with pytest.raises(ShapeError):
            occlusion_starts(size, window, stride)
        return
    starts = occlusion_starts(size, window, stride)
    assert len(starts) == (size - window) // stride + 1
    assert starts[-1] + window <= size


@pytest.mark.parametrize("height, width, window, stride", [(7, 10, 3, 2), (8, 8, 4, 4), (6, 9, 2, 3)])
def test_occlusion_grid_has_the_formula_shape(height, width, window, stride):
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(), nn.Linear(2 * height * width, 3))
    maps = occlusion(model, np.ones((1, height, width), np.float32), 0, window, stride)
    assert maps.prob.shape == ((height - window) // stride + 1, (width - window) // stride + 1)


# ------------------------------------------------------------ attribution (Captum's Occlusion)

def linear_model(weights):
    """A model whose class-0 logit is sum(weights * x): Flatten + Linear, no bias."""
    channels, height, width = weights.shape
    model = nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width, 2, bias=False)).to("float64")
    model[1].weight.data[0] = weights.reshape(-1)
    model[1].weight.data[1] = 0.0
    return model


def test_attribution_hand_checked_3x3_window_2_stride_2():
    # x = 1, baseline 0, w = [[0,1,2],[3,4,5],[6,7,8]]: windows start at 0 and 2 along each
    # axis (ceil((3-2)/2) + 1 = 2), the second cut at the border; they do not overlap, so
    # each pixel gets the drop of its own window: 0+1+3+4 = 8, 2+5 = 7, 6+7 = 13, 8.
    weights = np.arange(9.0).reshape(1, 3, 3)
    attribution = occlusion_attribution(linear_model(weights), np.ones((1, 3, 3)), 0, window=2, stride=2)
    np.testing.assert_allclose(attribution[0], [[8, 8, 7], [8, 8, 7], [13, 13, 8]])


def test_attribution_hand_checked_3x3_window_2_stride_1():
    # windows at (0,0), (0,1), (1,0), (1,1) drop 8, 12, 20, 24; each pixel averages the ones covering it
    weights = np.arange(9.0).reshape(1, 3, 3)
    attribution = occlusion_attribution(linear_model(weights), np.ones((1, 3, 3)), 0, window=2, stride=1)
    expected = [[8, (8 + 12) / 2, 12],
                [(8 + 20) / 2, (8 + 12 + 20 + 24) / 4, (12 + 24) / 2],
                [20, (20 + 24) / 2, 24]]
    np.testing.assert_allclose(attribution[0], expected)


def test_attribution_with_window_1_is_weight_times_input_minus_baseline():
    rng = np.random.default_rng(3)
    weights, x = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 4))
    attribution = occlusion_attribution(linear_model(weights), x, 0, window=1, stride=1, baseline=0.5)
    # one pixel occluded in both channels at once: the drop is summed over channels
    expected = (weights * (x - 0.5)).sum(axis=0)
    np.testing.assert_allclose(attribution, np.broadcast_to(expected, x.shape), atol=1e-12)


def captum_loop(model, x, target, window, stride, baseline):
    """Captum's Occlusion written out: ceil((H - w)/s) + 1 starts, windows cut at the border,
    attribution = sum of drop * mask / number of covering windows."""
    _, height, width = x.shape
    total, count = np.zeros((height, width)), np.zeros((height, width))
    clean = run(model, x, -1)[0][target]
    for r in range(math.ceil((height - window) / stride) + 1):
        for c in range(math.ceil((width - window) / stride) + 1):
            mask = np.zeros((height, width), bool)
            mask[r * stride:r * stride + window, c * stride:c * stride + window] = True
            occluded = np.where(mask, baseline, x)
            total += (clean - run(model, occluded, -1)[0][target]) * mask
            count += mask
    return total / count


def test_attribution_of_a_convnet_matches_captums_algorithm(backend_name):
    model = small_classifier().to(default_device())
    x = np.random.default_rng(4).standard_normal((2, 9, 11))
    attribution = to_numpy(occlusion_attribution(model, to_device(x, default_device()), 2, window=4, stride=3,
                                                 baseline=-0.25, batch_size=5))
    expected = captum_loop(model, x, 2, 4, 3, -0.25)
    np.testing.assert_allclose(attribution, np.broadcast_to(expected, x.shape), rtol=1e-9, atol=1e-12)


def test_attribution_of_a_batch_uses_each_images_target():
    model = small_classifier()
    x = np.random.default_rng(5).standard_normal((2, 2, 9, 11))
    both = occlusion_attribution(model, x, [0, 3], window=3, stride=2)
    np.testing.assert_allclose(both[0], occlusion_attribution(model, x[0], 0, window=3, stride=2))
    np.testing.assert_allclose(both[1], occlusion_attribution(model, x[1], 3, window=3, stride=2))


def test_attribution_refuses_a_stride_longer_than_the_window():
    with pytest.raises(ShapeError, match="stride 3 is larger than the window 2"):
        occlusion_attribution(small_classifier(), np.zeros((2, 9, 11)), 0, window=2, stride=3)
