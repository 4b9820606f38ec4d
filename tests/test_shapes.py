"""The output-size formula (N - F + 2P)/S + 1, the examples of docs/sources.md
sections 1-3, and that every layer, its forward pass and summary() agree."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import functional as F
from minicnn import nn
from minicnn.engine.nn.summary import format_table
from minicnn.engine.shapes import ShapeError, conv_output_size

import naive


# ----- docs/sources.md section 1 (CS231n lecture 5) ----------------------------

@pytest.mark.parametrize("stride, expected", [(1, 5), (2, 3)])
def test_seven_by_seven_input_three_by_three_filter(stride, expected):
    assert conv_output_size(7, 3, stride) == expected


def test_stride_three_does_not_fit_and_says_so():
    with pytest.raises(ShapeError, match=r"\(7 - 3 \+ 2\*0\)/3 \+ 1 = 2\.33"):
        conv_output_size(7, 3, stride=3, strict=True)
    assert conv_output_size(7, 3, stride=3) == 2  # floored without strict


def test_zero_padding_keeps_the_size():
    assert conv_output_size(7, 3, stride=1, padding=1) == 7


def test_ten_five_by_five_filters_on_32x32x3():
    layer = nn.Conv2d(3, 10, 5, stride=1, padding=2)
    (row,) = nn.Sequential(layer).summary((3, 32, 32), print_table=False)
    assert row["output_shape"] == (10, 32, 32)
    assert row["params"] == 760
    assert row["params"] // 10 == 5 * 5 * 3 + 1 == 76  # weights of one filter plus its bias
    assert layer.weight.shape[1:] == (3, 5, 5)  # a filter spans the full depth


def test_one_by_one_convolution_is_a_dot_product_over_depth():
    x = np.random.default_rng(0).standard_normal((1, 64, 56, 56)).astype(np.float32)
    layer = nn.Conv2d(64, 32, 1)
    y = layer(mc.tensor(x)).numpy()
    assert y.shape == (1, 32, 56, 56)
    w = layer.weight.numpy()[:, :, 0, 0]
    expected = np.einsum("fc,nchw->nfhw", w, x)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_pooling_224x224x64_halves():
    assert nn.MaxPool2d(2, 2).output_shape((64, 224, 224)) == (64, 112, 112)


# ----- docs/sources.md section 2 (lecture notes) --------------------------------

def test_cs231n_demo_5x5x3_padded_stride_2_two_filters():
    layer = nn.Conv2d(3, 2, 3, stride=2, padding=1)
    assert layer.output_shape((3, 5, 5)) == (2, 3, 3)
    y = layer(mc.tensor(np.ones((1, 3, 5, 5), dtype=np.float32)))
    assert y.shape == (1, 2, 3, 3)


def test_pooling_7x7_keeps_last_partial_window_with_ceil_mode():
    assert conv_output_size(7, 2, 2, ceil_mode=True) == 4
    assert conv_output_size(7, 2, 2) == 3
    y = F.max_pool2d(mc.tensor(np.zeros((1, 1, 7, 7), np.float32)), 2, ceil_mode=True)
    assert y.shape == (1, 1, 4, 4)


def test_keras_mnist_layer_table():
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
    )
    rows = model.summary((1, 28, 28), print_table=False)
    table = [(r["layer"].split("(")[0], r["output_shape"], r["params"]) for r in rows if not r["layer"].startswith("ReLU")]
    assert table == [
        ("Conv2d", (32, 26, 26), 320),
        ("MaxPool2d", (32, 13, 13), 0),
        ("Conv2d", (64, 11, 11), 18_496),
        ("MaxPool2d", (64, 5, 5), 0),
        ("Conv2d", (64, 3, 3), 36_928),
    ]


def test_x_versus_o_example_sizes():
    """A 9x9 X image, a 3x3 diagonal filter (mean of the nine products), ReLU, 2x2 pool."""
    x = -np.ones((9, 9))
    for i in range(9):
        x[i, i] = x[i, 8 - i] = 1.0
    diagonal = -np.ones((3, 3))
    np.fill_diagonal(diagonal, 1.0)
    weight = (diagonal / 9.0)[None, None]
    response = F.conv2d(mc.tensor(x[None, None]), mc.tensor(weight))
    assert response.shape == (1, 1, 7, 7)
    values = response.numpy()[0, 0]
    assert values.max() == pytest.approx(1.0)   # the pattern, matched exactly
    assert values[0, 0] == pytest.approx(1.0)   # top-left of the X's main diagonal
    pooled = F.max_pool2d(F.relu(response), 2)
    assert pooled.shape == (1, 1, 3, 3)
    assert F.max_pool2d(F.relu(response), 2, ceil_mode=True).shape == (1, 1, 4, 4)
    assert pooled.numpy().min() >= 0.0


# ----- docs/sources.md section 3: receptive fields ------------------------------

def test_three_stacked_3x3_convolutions_see_7x7():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    rows = model.summary((1, 32, 32), print_table=False)
    assert [r["receptive_field"] for r in rows] == [(3, 3), (5, 5), (7, 7)]


def test_pooling_enlarges_what_later_units_see():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    rows = model.summary((1, 32, 32), print_table=False)
    assert [r["receptive_field"] for r in rows] == [(3, 3), (4, 4), (8, 8)]


# ----- properties: formula == forward pass == summary -----------------------------

window = st.integers(1, 5)


@given(n=st.integers(1, 20), k=window, s=st.integers(1, 4), p=st.integers(0, 3))
def test_formula_matches_counting_windows(n, k, s, p):
    if k > n + 2 * p:
        with pytest.raises(ShapeError, match="larger than the padded input"):
            conv_output_size(n, k, s, p)
        return
    assert conv_output_size(n, k, s, p) == (n - k + 2 * p) // s + 1 == naive.pool_output_size(n, k, s, p, False)


@given(n=st.integers(1, 20), k=window, s=st.integers(1, 4), data=st.data())
def test_ceil_mode_matches_pytorch_rule(n, k, s, data):
    p = data.draw(st.integers(0, k // 2))
    if k > n + 2 * p:
        return
    assert conv_output_size(n, k, s, p, ceil_mode=True) == naive.pool_output_size(n, k, s, p, True)


@given(
    h=st.integers(3, 12), w=st.integers(3, 12),
    kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3),
    ph=st.integers(0, 2), pw=st.integers(0, 2),
)
def test_conv_layer_shape_formula(h, w, kh, kw, sh, sw, ph, pw):
    layer = nn.Conv2d(2, 3, (kh, kw), (sh, sw), (ph, pw))
    if kh > h + 2 * ph or kw > w + 2 * pw:
        with pytest.raises(ShapeError):
            layer.output_shape((2, h, w))
        return
    expected = (3, (h - kh + 2 * ph) // sh + 1, (w - kw + 2 * pw) // sw + 1)
    assert layer.output_shape((2, h, w)) == expected
    assert layer(mc.tensor(np.zeros((1, 2, h, w), np.float32))).shape == (1, *expected)
    (row,) = nn.Sequential(layer).summary((2, h, w), print_table=False)
    assert row["output_shape"] == expected


@given(
    h=st.integers(3, 12), w=st.integers(3, 12),
    kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3),
    ceil_mode=st.booleans(), data=st.data(),
)
def test_pool_layer_shape_formula(h, w, kh, kw, sh, sw, ceil_mode, data):
    ph, pw = data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2))
    assume(kh <= h + 2 * ph and kw <= w + 2 * pw)  # a window that fits (the error has its own test)
    layer = nn.MaxPool2d((kh, kw), (sh, sw), (ph, pw), ceil_mode)
    expected = (2, naive.pool_output_size(h, kh, sh, ph, ceil_mode), naive.pool_output_size(w, kw, sw, pw, ceil_mode))
    assert layer.output_shape((2, h, w)) == expected
    assert layer(mc.tensor(np.zeros((1, 2, h, w), np.float32))).shape == (1, *expected)


def test_units_after_flatten_see_the_whole_input():
    rows = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 26 * 26, 10)).summary((1, 28, 28), print_table=False)
    assert [r["receptive_field"] for r in rows] == [(3, 3), (28, 28), (28, 28)]


# ----- dilation and groups -------------------------------------------------------

@given(n=st.integers(1, 20), k=window, s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 4))
def test_dilated_formula_matches_counting_windows(n, k, s, p, d):
    """(N + 2P - D(F - 1) - 1)/S + 1: a window of F taps D apart spans D(F - 1) + 1 pixels."""
    if d * (k - 1) + 1 > n + 2 * p:
        with pytest.raises(ShapeError, match="larger than the padded input"):
            conv_output_size(n, k, s, p, dilation=d)
        return
    expected = (n + 2 * p - d * (k - 1) - 1) // s + 1
    assert conv_output_size(n, k, s, p, dilation=d) == expected == naive.pool_output_size(n, k, s, p, False, d)


@given(n=st.integers(1, 20), k=window, s=st.integers(1, 4), d=st.integers(1, 3), data=st.data())
def test_dilated_ceil_mode_matches_pytorch_rule(n, k, s, d, data):
    p = data.draw(st.integers(0, k // 2))
    assume(d * (k - 1) + 1 <= n + 2 * p)
    assert conv_output_size(n, k, s, p, ceil_mode=True, dilation=d) == naive.pool_output_size(n, k, s, p, True, d)


def test_dilated_messages_quote_the_formula_with_d():
    with pytest.raises(ShapeError, match=r"\(9 \+ 2\*0 - 2\*\(3 - 1\) - 1\)/3 \+ 1 = 2\.33 is not a whole number"):
        conv_output_size(9, 3, stride=3, dilation=2, strict=True)
    with pytest.raises(ShapeError, match=r"Conv2d layer '0' .*3-tap window dilated by 3 \(3\*\(3 - 1\) \+ 1 = 7 "
                                         r"pixels wide\) is larger than the padded input along the height "
                                         r"\(5 \+ 2\*0 = 5\); needs N \+ 2P >= D\(F - 1\) \+ 1"):
        nn.Sequential(nn.Conv2d(1, 1, 3, dilation=3)).summary((1, 5, 9), print_table=False)
    # without dilation the lecture's formula, as before
    with pytest.raises(ShapeError, match=r"\(7 - 3 \+ 2\*0\)/3 \+ 1 = 2\.33"):
        conv_output_size(7, 3, stride=3, strict=True)


@given(
    h=st.integers(3, 14), w=st.integers(3, 14),
    kh=st.integers(1, 3), kw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3),
    ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 3), dw=st.integers(1, 3),
    groups=st.sampled_from([1, 2, 3]),
)
def test_grouped_dilated_conv_layer_shape_formula(h, w, kh, kw, sh, sw, ph, pw, dh, dw, groups):
    layer = nn.Conv2d(2 * groups, 3 * groups, (kh, kw), (sh, sw), (ph, pw), (dh, dw), groups)
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
        with pytest.raises(ShapeError):
            layer.output_shape((2 * groups, h, w))
        return
    expected = (3 * groups, (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
    assert layer.output_shape((2 * groups, h, w)) == expected
    assert layer(mc.tensor(np.zeros((1, 2 * groups, h, w), np.float32))).shape == (1, *expected)
    (row,) = nn.Sequential(layer).summary((2 * groups, h, w), print_table=False)
    assert row["output_shape"] == expected
    assert row["params"] == 3 * groups * (2 * kh * kw + 1)        # F * (C/G * KH*KW + 1)
    assert row["receptive_field"] == (dh * (kh - 1) + 1, dw * (kw - 1) + 1)


def test_dilation_grows_the_receptive_field_without_parameters():
    """3x3 convolutions with dilation 1, 2, 4 (Yu & Koltun's context module):
    fields 3, 7, 15, against 3, 5, 7 for the same three dense layers, at the same 3*(9+1) parameters."""
    dilated = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3, dilation=4))
    plain = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    rows = dilated.summary((1, 32, 32), print_table=False)
    assert [r["receptive_field"] for r in rows] == [(3, 3), (7, 7), (15, 15)]
    assert [r["receptive_field"] for r in plain.summary((1, 32, 32), print_table=False)] == [(3, 3), (5, 5), (7, 7)]
    assert sum(r["params"] for r in rows) == sum(p.size for p in plain.parameters()) == 30


def test_dilated_pool_layer_shape_and_summary():
    layer = nn.MaxPool2d(3, 2, 1, dilation=2)
    assert layer.output_shape((4, 11, 10)) == (4, (11 + 2 - 4 - 1) // 2 + 1, (10 + 2 - 4 - 1) // 2 + 1)
    (row,) = nn.Sequential(layer).summary((4, 11, 10), print_table=False)
    assert row["layer"] == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=2)"
    assert row["receptive_field"] == (5, 5)


def test_summary_table_shows_groups_and_dilation_in_full():
    model = nn.Sequential(nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.Conv2d(256, 256, 3, padding=4, dilation=4))
    rows = model.summary((96, 27, 27), print_table=False)
    assert [row["layer"] for row in rows] == ["Conv2d(96, 256, kernel_size=5, padding=2, groups=2)",
                                              "Conv2d(256, 256, kernel_size=3, padding=4, dilation=4)"]
    table = format_table("model", (96, 27, 27), rows)
    assert all(row["layer"] in table for row in rows)
