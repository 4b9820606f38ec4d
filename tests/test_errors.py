"""Bad input: every error names the layer or op, what it got, what it needed,
and the formula that failed."""

import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn import nn
from minicnn.engine.errors import ArgumentError
from minicnn.engine.shapes import ShapeError, conv_output_size


def images(*shape, dtype=np.float32):
    return mc.tensor(np.zeros(shape, dtype=dtype))


def test_wrong_ndim_names_the_layer_and_the_expected_layout():
    with pytest.raises(ShapeError, match=r"Conv2d layer '0' .*expected a 4-D input \(N, C, H, W\), got shape \(1, 28, 28\).*batch axis"):
        nn.Sequential(nn.Conv2d(1, 4, 3))(images(1, 28, 28))


def test_channel_mismatch_says_got_and_needed():
    with pytest.raises(ShapeError, match=r"Conv2d layer '2' .*input has 3 channels \(shape \(2, 3, 8, 8\)\) but the filters need 4.*\(N, 4, H, W\)"):
        nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU(), nn.Conv2d(4, 2, 3))(images(2, 3, 8, 8))


def test_window_larger_than_padded_input_quotes_the_formula():
    with pytest.raises(ShapeError, match=r"MaxPool2d layer '1' .*3-wide window is larger than the padded input along the height \(2 \+ 2\*0 = 2\).*\(2 - 3 \+ 2\*0\)/2 \+ 1 = 0\.5"):
        nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(3, 2))(images(1, 1, 4, 6))


def test_summary_names_the_layer_whose_formula_fails():
    model = nn.Sequential(nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), nn.Conv2d(8, 8, 5))
    with pytest.raises(ShapeError, match=r"Conv2d layer '2'.*5-wide window is larger than the padded input"):
        model.summary((1, 10, 10), print_table=False)


@pytest.mark.parametrize("stride", [0, -1])
def test_non_positive_stride(stride):
    with pytest.raises(ArgumentError, match=rf"conv2d: stride must be 1 or more .*got stride={stride}"):
        F.conv2d(images(1, 1, 5, 5), images(1, 1, 3, 3), stride=stride)
    with pytest.raises(ShapeError, match=rf"conv_output_size: stride must be positive, got stride={stride}"):
        conv_output_size(5, 3, stride)


def test_pool_padding_more_than_half_the_window():
    with pytest.raises(ShapeError, match=r"max_pool2d: padding 2 is more than half the 3-wide window.*P <= F // 2"):
        F.max_pool2d(images(1, 1, 5, 5), 3, padding=2)


def test_integer_input_is_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"Conv2d layer '0' .*must be floating point .* got uint8.*astype\('float32'\) / 255"):
        nn.Sequential(nn.Conv2d(1, 1, 3))(mc.tensor(np.zeros((1, 1, 5, 5), dtype=np.uint8)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(bad):
    x = np.zeros((1, 1, 5, 5), dtype=np.float32)
    x[0, 0, 2, 3] = bad
    with pytest.raises(ValueError, match=r"Conv2d layer '0' .*input of shape \(1, 1, 5, 5\) holds 1 NaN or infinite values"):
        nn.Sequential(nn.Conv2d(1, 1, 3))(mc.tensor(x))


def test_dtype_mismatch_between_input_and_weights():
    with pytest.raises(TypeError, match=r"input is float64 but weight is float32.*model.to\('float64'\)"):
        nn.Conv2d(1, 1, 3)(images(1, 1, 5, 5, dtype=np.float64))


def test_linear_feature_mismatch():
    with pytest.raises(ShapeError, match=r"Linear layer '1' .*input has 12 features \(shape \(2, 12\)\) but the weight \(5, 10\).*needs 10"):
        nn.Sequential(nn.Flatten(), nn.Linear(10, 5))(images(2, 3, 2, 2))


def test_labels_out_of_range():
    with pytest.raises(ValueError, match=r"cross_entropy: label 10 is outside 0\.\.9; the logits \(2, 10\) have 10 classes"):
        F.cross_entropy(images(2, 10), np.array([3, 10]))
    with pytest.raises(ValueError, match=r"label -1 is outside 0\.\.9"):
        F.cross_entropy(images(2, 10), np.array([-1, 0]))


def test_labels_must_be_integers_and_match_the_batch():
    with pytest.raises(TypeError, match="target must hold integer class labels, got dtype float64"):
        F.cross_entropy(images(2, 10), np.array([1.0, 2.0]))
    with pytest.raises(ShapeError, match=r"target must have shape \(2,\) to match logits \(2, 10\), got \(3,\)"):
        F.cross_entropy(images(2, 10), np.array([1, 2, 3]))


def test_unpool_with_switches_of_another_pass():
    _, switches = F.max_pool2d(images(1, 1, 8, 8), 2, return_switches=True)
    with pytest.raises(ShapeError, match=r"max_unpool2d: input has shape \(1, 1, 3, 3\) but the switches were recorded for .*\(1, 1, 4, 4\)"):
        F.max_unpool2d(images(1, 1, 3, 3), switches)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown backend 'tpu'; choose one of numpy, numba, cupy"):
        mc.set_backend("tpu")


def test_load_state_dict_mismatch():
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match=r"0.weight has shape \(2, 1, 5, 5\) in the state but \(2, 1, 3, 3\) in the model"):
        model.load_state_dict({"0.weight": np.zeros((2, 1, 5, 5)), "0.bias": np.zeros(2)})
    with pytest.raises(KeyError, match=r"missing \['0.bias'\]"):
        model.load_state_dict({"0.weight": np.zeros((2, 1, 3, 3))})
