"""Every op three ways: against a naive loop, by a float64 gradient check,
and on hypothesis-drawn shapes with non-square kernels, stride > 1, padding,
overlapping pools, ceil_mode and odd sizes, grouped convolutions (1 < groups
< C) and dilation > 1. Runs once per available backend."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import functional as F

import naive
from conftest import to_tensor

rng = np.random.default_rng(1234)


def values_apart(shape, seed):
    """Distinct values at least 0.01 apart, so max and ReLU have no kinks within eps."""
    generator = np.random.default_rng(seed)
    count = int(np.prod(shape))
    return (generator.permutation(count) - (count - 1) / 2).reshape(shape) * 0.01 + 0.003


conv_case = st.fixed_dictionaries({
    "n": st.integers(1, 2), "c": st.integers(1, 3), "f": st.integers(1, 3),
    "h": st.integers(1, 8), "w": st.integers(1, 8),
    "kh": st.integers(1, 4), "kw": st.integers(1, 4),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "ph": st.integers(0, 2), "pw": st.integers(0, 2),
    "bias": st.booleans(), "seed": st.integers(0, 2**16),
})


def _fits(case):
    assume(case["kh"] <= case["h"] + 2 * case["ph"] and case["kw"] <= case["w"] + 2 * case["pw"])
    return True


# ----- convolution -----------------------------------------------------------------

@given(case=conv_case)
def test_conv2d_matches_naive_loops(backend_name, case):
    if not _fits(case):
        return
    g = np.random.default_rng(case["seed"])
    x = g.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    w = g.standard_normal((case["f"], case["c"], case["kh"], case["kw"]))
    b = g.standard_normal(case["f"]) if case["bias"] else None
    stride, padding = (case["sh"], case["sw"]), (case["ph"], case["pw"])
    y = F.conv2d(to_tensor(x), to_tensor(w), None if b is None else to_tensor(b), stride, padding)
    np.testing.assert_allclose(y.numpy(), naive.conv2d(x, w, b, stride, padding), rtol=1e-10, atol=1e-12)


@given(case=conv_case)
def test_conv2d_gradients(backend_name, case):
    if not _fits(case):
        return
    g = np.random.default_rng(case["seed"])
    x = to_tensor(g.standard_normal((case["n"], case["c"], case["h"], case["w"])), True)
    w = to_tensor(g.standard_normal((case["f"], case["c"], case["kh"], case["kw"])), True)
    inputs = [x, w] + ([to_tensor(g.standard_normal(case["f"]), True)] if case["bias"] else [])
    stride, padding = (case["sh"], case["sw"]), (case["ph"], case["pw"])
    assert mc.gradcheck(lambda *t: F.conv2d(*t, stride=stride, padding=padding), *inputs)


def test_conv2d_float32_stays_float32(backend_name):
    y = F.conv2d(to_tensor(rng.standard_normal((1, 2, 5, 5)).astype(np.float32)),
                 to_tensor(rng.standard_normal((3, 2, 3, 3)).astype(np.float32)))
    assert y.dtype == np.float32


# ----- grouped and dilated convolution ------------------------------------------------

@st.composite
def grouped_dilated_conv_cases(draw):
    """A convolution with 1 < groups < C (and sometimes groups = C, depthwise), dilation > 1
    on at least one axis, non-square kernels, stride, padding and odd sizes, that fits."""
    groups = draw(st.integers(2, 3))
    group_channels = draw(st.integers(1, 2))
    if group_channels == 1 and draw(st.booleans()):
        group_channels = 2                       # keep 1 < groups < C most of the time
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(2, 3)))
    if draw(st.booleans()):
        dilation = dilation[::-1]
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    height = draw(st.integers(max(1, span[0] - 2 * padding[0]), 9))
    width = draw(st.integers(max(1, span[1] - 2 * padding[1]), 9))
    return {
        "n": draw(st.integers(1, 2)), "c": groups * group_channels, "h": height, "w": width,
        "f": groups * draw(st.integers(1, 2)), "groups": groups, "kernel": kernel, "stride": stride,
        "padding": padding, "dilation": dilation, "bias": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
    }


def _conv_arrays(case, g):
    x = g.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    w = g.standard_normal((case["f"], case["c"] // case["groups"]) + case["kernel"])
    b = g.standard_normal(case["f"]) if case["bias"] else None
    return x, w, b


def _settings(case):
    return {"stride": case["stride"], "padding": case["padding"], "dilation": case["dilation"],
            "groups": case["groups"]}


@given(case=grouped_dilated_conv_cases())
def test_grouped_dilated_conv2d_matches_naive_loops(backend_name, case):
    x, w, b = _conv_arrays(case, np.random.default_rng(case["seed"]))
    y = F.conv2d(to_tensor(x), to_tensor(w), None if b is None else to_tensor(b), **_settings(case))
    expected = naive.conv2d(x, w, b, case["stride"], case["padding"], case["dilation"], case["groups"])
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)


@given(case=grouped_dilated_conv_cases())
def test_grouped_dilated_conv2d_gradients(backend_name, case):
    x, w, b = _conv_arrays(case, np.random.default_rng(case["seed"]))
    inputs = [to_tensor(x, True), to_tensor(w, True)] + ([to_tensor(b, True)] if b is not None else [])
    assert mc.gradcheck(lambda *t: F.conv2d(*t, **_settings(case)), *inputs)


@given(case=grouped_dilated_conv_cases())
def test_a_grouped_convolution_is_one_dense_convolution_per_group(backend_name, case):
    """Group g: the input channels g*C/G .. and the filters g*F/G .., convolved on their own."""
    x, w, b = _conv_arrays(case, np.random.default_rng(case["seed"]))
    groups, settings = case["groups"], dict(_settings(case), groups=1)
    y = F.conv2d(to_tensor(x), to_tensor(w), None if b is None else to_tensor(b), **_settings(case)).numpy()
    channels, filters = case["c"] // groups, case["f"] // groups
    for group in range(groups):
        inputs, outputs = slice(group * channels, (group + 1) * channels), slice(group * filters, (group + 1) * filters)
        alone = F.conv2d(to_tensor(x[:, inputs]), to_tensor(w[outputs]),
                         None if b is None else to_tensor(b[outputs]), **settings).numpy()
        np.testing.assert_allclose(y[:, outputs], alone, rtol=1e-12, atol=1e-13)


def test_a_dilated_3x3_filter_reads_every_other_pixel_of_a_5x5_window(backend_name):
    """Dilation 2: the nine taps are (0, 0), (0, 2), ..., (4, 4) of a 5x5 window."""
    x = np.arange(49, dtype=np.float64).reshape(1, 1, 7, 7)
    y = F.conv2d(to_tensor(x), to_tensor(np.ones((1, 1, 3, 3))), dilation=2).numpy()
    assert y.shape == (1, 1, 3, 3)                         # (7 - 2*(3 - 1) - 1)/1 + 1 = 3
    assert y[0, 0, 0, 0] == x[0, 0, 0:5:2, 0:5:2].sum()
    assert y[0, 0, 2, 1] == x[0, 0, 2:7:2, 1:6:2].sum()


def test_depthwise_convolution_filters_each_channel_on_its_own(backend_name):
    """groups = C = F: filter c sees channel c only."""
    g = np.random.default_rng(3)
    x, w = g.standard_normal((2, 3, 6, 5)), g.standard_normal((3, 1, 3, 2))
    y = F.conv2d(to_tensor(x), to_tensor(w), groups=3, padding=1).numpy()
    for channel in range(3):
        alone = F.conv2d(to_tensor(x[:, channel:channel + 1]), to_tensor(w[channel:channel + 1]), padding=1).numpy()
        np.testing.assert_allclose(y[:, channel:channel + 1], alone, rtol=1e-12)


# ----- max pooling and unpooling --------------------------------------------------

pool_case = st.fixed_dictionaries({
    "n": st.integers(1, 2), "c": st.integers(1, 3),
    "h": st.integers(2, 9), "w": st.integers(2, 9),
    "kh": st.integers(1, 3), "kw": st.integers(1, 3),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "ceil_mode": st.booleans(), "seed": st.integers(0, 2**16),
    "ph": st.integers(0, 1), "pw": st.integers(0, 1),
})


def _pool_args(case):
    """Kernel, stride, padding of a case; padding <= kernel // 2; the window must fit."""
    kernel, stride = (case["kh"], case["kw"]), (case["sh"], case["sw"])
    padding = (min(case["ph"], case["kh"] // 2), min(case["pw"], case["kw"] // 2))
    assume(kernel[0] <= case["h"] + 2 * padding[0] and kernel[1] <= case["w"] + 2 * padding[1])
    return kernel, stride, padding


@given(case=pool_case, ties=st.booleans())
def test_max_pool_and_switches_match_naive_loops(backend_name, case, ties):
    g = np.random.default_rng(case["seed"])
    shape = (case["n"], case["c"], case["h"], case["w"])
    # with ties, values come from {0, 1, 2}: many windows hold several maxima
    x = g.integers(0, 3, shape).astype(np.float64) if ties else g.standard_normal(shape)
    kernel, stride, padding = _pool_args(case)
    y, switches = F.max_pool2d(to_tensor(x), kernel, stride, padding, case["ceil_mode"], return_switches=True)
    expected_y, expected_switches = naive.max_pool2d(x, kernel, stride, padding, case["ceil_mode"])
    np.testing.assert_array_equal(y.numpy(), expected_y)
    np.testing.assert_array_equal(mc.to_numpy(switches.indices), expected_switches)
    assert switches.input_shape == shape


@given(case=pool_case)
def test_max_pool_gradients(backend_name, case):
    kernel, stride, padding = _pool_args(case)
    x = to_tensor(values_apart((case["n"], case["c"], case["h"], case["w"]), case["seed"]), True)
    assert mc.gradcheck(lambda t: F.max_pool2d(t, kernel, stride, padding, case["ceil_mode"]), x)


def test_overlapping_pool_3x3_stride_2_sends_gradient_of_shared_maximum_twice(backend_name):
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the centre belongs to all four overlapping windows
    t = to_tensor(x, True)
    F.max_pool2d(t, 3, 2).sum().backward()
    grad = mc.to_numpy(t.grad)
    assert grad[0, 0, 2, 2] == 4.0 and grad.sum() == 4.0


@given(case=pool_case)
def test_max_unpool_matches_naive_loops_and_is_pooling_backward(backend_name, case):
    kernel, stride, padding = _pool_args(case)
    x = values_apart((case["n"], case["c"], case["h"], case["w"]), case["seed"])
    y, switches = F.max_pool2d(to_tensor(x), kernel, stride, padding, case["ceil_mode"], return_switches=True)
    g = np.random.default_rng(case["seed"]).standard_normal(y.shape)
    unpooled = F.max_unpool2d(to_tensor(g), switches)
    _, expected_switches = naive.max_pool2d(x, kernel, stride, padding, case["ceil_mode"])
    np.testing.assert_allclose(unpooled.numpy(), naive.max_unpool2d(g, expected_switches, x.shape), rtol=1e-12)
    # unpooling by the switches is exactly the backward pass of that pooling
    t = to_tensor(x, True)
    F.max_pool2d(t, kernel, stride, padding, case["ceil_mode"]).backward(to_tensor(g).data)
    np.testing.assert_allclose(mc.to_numpy(t.grad), unpooled.numpy(), rtol=1e-12)


@given(case=pool_case)
def test_max_unpool_gradients(backend_name, case):
    kernel, stride, padding = _pool_args(case)
    x = values_apart((case["n"], case["c"], case["h"], case["w"]), case["seed"])
    y, switches = F.max_pool2d(to_tensor(x), kernel, stride, padding, case["ceil_mode"], return_switches=True)
    values = to_tensor(np.random.default_rng(case["seed"]).standard_normal(y.shape), True)
    assert mc.gradcheck(lambda v: F.max_unpool2d(v, switches), values)


dilated_pool_case = st.fixed_dictionaries({
    "n": st.integers(1, 2), "c": st.integers(1, 3),
    "h": st.integers(3, 11), "w": st.integers(3, 11),
    "kh": st.integers(1, 3), "kw": st.integers(2, 3),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "dh": st.integers(1, 3), "dw": st.integers(2, 3),
    "ph": st.integers(0, 1), "pw": st.integers(0, 1),
    "ceil_mode": st.booleans(), "seed": st.integers(0, 2**16),
})


def _dilated_pool_args(case):
    kernel, stride, padding = _pool_args(case)
    dilation = (case["dh"], case["dw"])
    assume(all(d * (k - 1) + 1 <= size + 2 * p for d, k, size, p in
               zip(dilation, kernel, (case["h"], case["w"]), padding)))
    return kernel, stride, padding, dilation


@given(case=dilated_pool_case, ties=st.booleans())
def test_dilated_max_pool_and_switches_match_naive_loops(backend_name, case, ties):
    g = np.random.default_rng(case["seed"])
    shape = (case["n"], case["c"], case["h"], case["w"])
    x = g.integers(0, 3, shape).astype(np.float64) if ties else g.standard_normal(shape)
    kernel, stride, padding, dilation = _dilated_pool_args(case)
    y, switches = F.max_pool2d(to_tensor(x), kernel, stride, padding, case["ceil_mode"], return_switches=True,
                               dilation=dilation)
    expected_y, expected_switches = naive.max_pool2d(x, kernel, stride, padding, case["ceil_mode"], dilation)
    np.testing.assert_array_equal(y.numpy(), expected_y)
    np.testing.assert_array_equal(mc.to_numpy(switches.indices), expected_switches)


@given(case=dilated_pool_case)
def test_dilated_max_pool_gradients_and_unpooling(backend_name, case):
    kernel, stride, padding, dilation = _dilated_pool_args(case)
    x = values_apart((case["n"], case["c"], case["h"], case["w"]), case["seed"])
    pool = lambda t: F.max_pool2d(t, kernel, stride, padding, case["ceil_mode"], dilation=dilation)  # noqa: E731
    y, switches = F.max_pool2d(to_tensor(x), kernel, stride, padding, case["ceil_mode"], return_switches=True,
                               dilation=dilation)
    assume(np.isfinite(y.numpy()).all())          # a window of padding only has no gradient to check
    assert mc.gradcheck(pool, to_tensor(x, True))
    g = np.random.default_rng(case["seed"]).standard_normal(y.shape)
    t = to_tensor(x, True)
    pool(t).backward(to_tensor(g).data)
    np.testing.assert_allclose(mc.to_numpy(t.grad), F.max_unpool2d(to_tensor(g), switches).numpy(), rtol=1e-12)


def test_a_dilated_window_of_padding_only_gives_minus_infinity_as_pytorch_does(backend_name):
    """2 taps 3 apart, padding 1, on a 2-wide input: the taps fall at -1 and 2, both padding."""
    x = to_tensor(np.array([[[[1.0, 2.0]]]]))
    y, switches = F.max_pool2d(x, (1, 2), 1, (0, 1), return_switches=True, dilation=(1, 3))
    assert y.shape == (1, 1, 1, 1) and y.numpy()[0, 0, 0, 0] == -np.inf
    assert 0 <= int(mc.to_numpy(switches.indices).ravel()[0]) < 2       # a switch inside the image


# ----- ReLU and dropout -------------------------------------------------------------

def test_relu_values_and_zero_gradient_at_zero(backend_name):
    x = np.array([[-2.0, -0.0, 0.0, 0.5, 3.0]])
    t = to_tensor(x, True)
    y = F.relu(t)
    np.testing.assert_array_equal(y.numpy(), [[0.0, 0.0, 0.0, 0.5, 3.0]])
    y.sum().backward()
    np.testing.assert_array_equal(mc.to_numpy(t.grad), [[0.0, 0.0, 0.0, 1.0, 1.0]])


@pytest.mark.parametrize("size", [8, 2**20])     # the numba backend compiles loops only for large arrays
def test_relu_on_signed_zeros_and_tiny_values(backend_name, size):
    # (NaN and infinities never get here: every op refuses them, see tests/test_errors.py;
    # the kernels' own handling of them is checked in tests/test_kernels.py.)
    x = np.full(size, 2.0, dtype=np.float32)
    x[:5] = [-0.0, 0.0, -1e-30, 1e-30, -3.0]
    t = to_tensor(x, True)
    y = F.relu(t)
    np.testing.assert_array_equal(y.numpy()[:6], np.float32([0.0, 0.0, 0.0, 1e-30, 0.0, 2.0]))
    y.sum().backward()
    np.testing.assert_array_equal(mc.to_numpy(t.grad)[:6], [0.0, 0.0, 0.0, 1.0, 0.0, 1.0])


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), seed=st.integers(0, 100))
def test_relu_gradients(backend_name, shape, seed):
    values = values_apart(tuple(shape), seed)
    assert mc.gradcheck(F.relu, to_tensor(values, True))


def test_dropout_is_inverted_and_identity_in_eval(backend_name):
    x = to_tensor(np.ones((200, 500), dtype=np.float32))
    y = F.dropout(x, p=0.3, training=True).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01                       # keeps 1 - p of the values
    np.testing.assert_allclose(y[kept], 1.0 / 0.7, rtol=1e-6)  # scaled by 1 / (1 - p)
    assert abs(y.mean() - 1.0) < 0.01                          # expectation unchanged
    assert F.dropout(x, p=0.3, training=False) is x


def test_dropout_gradient_uses_the_same_mask(backend_name):
    def fn(t):
        mc.manual_seed(7)  # the same mask for every evaluation
        return F.dropout(t, p=0.5)
    x = to_tensor(rng.standard_normal((3, 4, 5)), True)
    assert mc.gradcheck(fn, x)


def test_dropout_rejects_p_of_one():
    with pytest.raises(ValueError, match=r"dropout: p .* \[0, 1\)"):
        F.dropout(to_tensor(np.ones(3)), p=1.0)


# ----- local response normalization --------------------------------------------------

lrn_case = st.fixed_dictionaries({
    "n": st.integers(1, 2), "c": st.integers(1, 7), "h": st.integers(1, 4), "w": st.integers(1, 4),
    "size": st.integers(1, 6), "alpha": st.sampled_from([1.0, 0.5, 1e-4]),
    "beta": st.sampled_from([0.75, 0.5, 1.3]), "k": st.sampled_from([1.0, 2.0]),
    "seed": st.integers(0, 2**16),
})


@given(case=lrn_case)
def test_lrn_matches_naive_loops(backend_name, case):
    x = np.random.default_rng(case["seed"]).standard_normal((case["n"], case["c"], case["h"], case["w"]))
    args = case["size"], case["alpha"], case["beta"], case["k"]
    y = F.local_response_norm(to_tensor(x), *args)
    np.testing.assert_allclose(y.numpy(), naive.local_response_norm(x, *args), rtol=1e-12)


@given(case=lrn_case)
def test_lrn_gradients(backend_name, case):
    x = to_tensor(np.random.default_rng(case["seed"]).standard_normal((case["n"], case["c"], case["h"], case["w"])), True)
    args = case["size"], case["alpha"], case["beta"], case["k"]
    assert mc.gradcheck(lambda t: F.local_response_norm(t, *args), x)


def test_lrn_window_is_asymmetric_for_even_sizes(backend_name):
    """size 4 sums channels c-2 .. c+1: a spike in channel 3 reaches channels 2, 3, 4, 5."""
    x = np.zeros((1, 8, 1, 1))
    x[0, 3] = 10.0
    y = F.local_response_norm(to_tensor(x + 1.0), size=4, alpha=1.0, beta=1.0, k=1.0).numpy()[0, :, 0, 0]
    baseline = F.local_response_norm(to_tensor(np.ones((1, 8, 1, 1))), size=4, alpha=1.0, beta=1.0, k=1.0).numpy()[0, :, 0, 0]
    changed = np.flatnonzero(~np.isclose(y, baseline))
    assert changed.tolist() == [2, 3, 4, 5]


# ----- linear, flatten, softmax, cross-entropy ------------------------------------------

@given(n=st.integers(1, 4), i=st.integers(1, 6), o=st.integers(1, 5), bias=st.booleans(), seed=st.integers(0, 999))
def test_linear_matches_naive_and_gradients(backend_name, n, i, o, bias, seed):
    g = np.random.default_rng(seed)
    x, w, b = g.standard_normal((n, i)), g.standard_normal((o, i)), g.standard_normal(o)
    y = F.linear(to_tensor(x), to_tensor(w), to_tensor(b) if bias else None)
    np.testing.assert_allclose(y.numpy(), naive.linear(x, w, b if bias else None), rtol=1e-10, atol=1e-12)
    inputs = [to_tensor(x, True), to_tensor(w, True)] + ([to_tensor(b, True)] if bias else [])
    assert mc.gradcheck(F.linear, *inputs)


def test_flatten_gradients(backend_name):
    x = to_tensor(rng.standard_normal((2, 3, 2, 2)), True)
    assert F.flatten(x).shape == (2, 12)
    assert mc.gradcheck(F.flatten, x)


@given(n=st.integers(1, 4), k=st.integers(2, 6), scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 999))
def test_softmax_family_matches_naive_and_gradients(backend_name, n, k, scale, seed):
    g = np.random.default_rng(seed)
    z = g.standard_normal((n, k)) * scale
    target = g.integers(0, k, n)
    np.testing.assert_allclose(F.log_softmax(to_tensor(z)).numpy(), naive.log_softmax(z), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(F.softmax(to_tensor(z)).numpy().sum(axis=1), 1.0, rtol=1e-12)
    assert F.cross_entropy(to_tensor(z), target).item() == pytest.approx(naive.cross_entropy(z, target), rel=1e-10)
    assert mc.gradcheck(F.log_softmax, to_tensor(z, True))
    assert mc.gradcheck(F.softmax, to_tensor(z, True))
    assert mc.gradcheck(lambda t: F.cross_entropy(t, target), to_tensor(z, True))


def test_cross_entropy_is_finite_for_huge_logits(backend_name):
    z = to_tensor(np.array([[1e30, -1e30, 0.0], [-5e4, 5e4, 1e4]], dtype=np.float32), True)
    loss = F.cross_entropy(z, np.array([1, 1]))
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(1e30, rel=1e-6)
    loss.backward()
    assert np.all(np.isfinite(mc.to_numpy(z.grad)))
