"""Average pooling, LeNet-5's trainable subsampling, sigmoid and tanh: against
naive loops, by float64 gradient checks, on hypothesis-drawn shapes (non-square
windows, stride > 1, padding, overlapping windows, ceil_mode, both divisor
rules), for very large |x|, and as layers in summary(). Runs once per
available backend. PyTorch parity is in test_pytorch_parity.py."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import functional as F
from minicnn import nn

import naive
from conftest import to_tensor

avg_case = st.fixed_dictionaries({
    "n": st.integers(1, 2), "c": st.integers(1, 3),
    "h": st.integers(1, 9), "w": st.integers(1, 9),
    "kh": st.integers(1, 4), "kw": st.integers(1, 4),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3),
    "ph": st.integers(0, 2), "pw": st.integers(0, 2),
    "ceil_mode": st.booleans(), "count_include_pad": st.booleans(), "seed": st.integers(0, 2**16),
})


def _avg_args(case):
    """Kernel, stride, padding of a case; padding <= kernel // 2; the window must fit."""
    kernel, stride = (case["kh"], case["kw"]), (case["sh"], case["sw"])
    padding = (min(case["ph"], case["kh"] // 2), min(case["pw"], case["kw"] // 2))
    assume(kernel[0] <= case["h"] + 2 * padding[0] and kernel[1] <= case["w"] + 2 * padding[1])
    return kernel, stride, padding


# ----- average pooling ---------------------------------------------------------------

@given(case=avg_case)
def test_avg_pool_matches_naive_loops_forward_and_backward(backend_name, case):
    kernel, stride, padding = _avg_args(case)
    mode = {"ceil_mode": case["ceil_mode"], "count_include_pad": case["count_include_pad"]}
    g = np.random.default_rng(case["seed"])
    x = g.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    t = to_tensor(x, True)
    y = F.avg_pool2d(t, kernel, stride, padding, **mode)
    np.testing.assert_allclose(y.numpy(), naive.avg_pool2d(x, kernel, stride, padding, **mode),
                               rtol=1e-12, atol=1e-14)
    grad_y = g.standard_normal(y.shape)
    y.backward(to_tensor(grad_y).data)
    np.testing.assert_allclose(mc.to_numpy(t.grad),
                               naive.avg_pool2d_backward(grad_y, x.shape, kernel, stride, padding, **mode),
                               rtol=1e-12, atol=1e-14)


@given(case=avg_case)
def test_avg_pool_gradients(backend_name, case):
    kernel, stride, padding = _avg_args(case)
    shape = (case["n"], case["c"], case["h"], case["w"])
    x = to_tensor(np.random.default_rng(case["seed"]).standard_normal(shape), True)
    assert mc.gradcheck(lambda t: F.avg_pool2d(t, kernel, stride, padding, case["ceil_mode"],
                                               case["count_include_pad"]), x)


def test_avg_pool_divisors_worked_by_hand(backend_name):
    """6x6 ones, 3x3 windows, stride 2, padding 1, ceil_mode: 4x4 windows per map.

    Along one axis the windows start at -1, 1, 3, 5 and cover -1..1, 1..3,
    3..5, 5..7. The padded input is -1..6, so the last window's position 7
    (the ceil_mode overhang) is not counted: it counts 5..6, 2 positions, of
    which 1 (5) is a real pixel; the first counts 3, of which 2 are real.
    """
    ones = to_tensor(np.ones((1, 1, 6, 6)))
    with_pad = F.avg_pool2d(ones, 3, 2, 1, ceil_mode=True).numpy()[0, 0]
    real_per_axis, counted_per_axis = np.array([2, 3, 3, 1]), np.array([3, 3, 3, 2])
    np.testing.assert_allclose(with_pad, np.outer(real_per_axis, real_per_axis)
                               / np.outer(counted_per_axis, counted_per_axis), rtol=1e-15)
    assert with_pad[3, 3] == 0.25 and with_pad[0, 0] == 4 / 9
    without_pad = F.avg_pool2d(ones, 3, 2, 1, ceil_mode=True, count_include_pad=False).numpy()
    np.testing.assert_array_equal(without_pad, np.ones((1, 1, 4, 4)))     # the mean of ones is one


def test_avg_pool_overlapping_windows_share_gradient(backend_name):
    t = to_tensor(np.zeros((1, 1, 5, 5)), True)
    F.avg_pool2d(t, 3, 2).sum().backward()      # the centre is in all four 3x3 windows
    grad = mc.to_numpy(t.grad)
    assert grad[0, 0, 2, 2] == pytest.approx(4 / 9) and grad[0, 0, 0, 0] == pytest.approx(1 / 9)
    assert grad.sum() == pytest.approx(4.0)


def test_avg_pool_float32_stays_float32_and_output_is_contiguous(backend_name):
    x = to_tensor(np.random.default_rng(0).standard_normal((2, 3, 7, 7)).astype(np.float32), True)
    y = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)
    assert y.dtype == np.float32 and y.data.flags.c_contiguous
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


def test_avg_pool_padding_over_half_the_window_is_explained():
    # the layer refuses it when it is built; the op when it is called
    with pytest.raises(mc.ShapeError, match=r"AvgPool2d: padding 2 is more than half the 3-wide window"):
        nn.AvgPool2d(3, 1, 2)
    with pytest.raises(mc.ShapeError, match=r"avg_pool2d: padding 2 is more than half the 3-wide window"):
        F.avg_pool2d(to_tensor(np.zeros((1, 1, 5, 5))), 3, 1, 2)


# ----- LeNet-5's subsampling: mean * weight[c] + bias[c] ---------------------------------

def test_subsampling_is_scaled_shifted_average(backend_name):
    layer = nn.Subsampling(3).to("float64")
    g = np.random.default_rng(2)
    layer.weight.data = to_tensor(g.standard_normal(3)).data
    layer.bias.data = to_tensor(g.standard_normal(3)).data
    x = g.standard_normal((2, 3, 6, 5))
    expected = (naive.avg_pool2d(x, (2, 2), (2, 2), (0, 0)) * mc.to_numpy(layer.weight.data)[None, :, None, None]
                + mc.to_numpy(layer.bias.data)[None, :, None, None])
    np.testing.assert_allclose(layer(to_tensor(x)).numpy(), expected, rtol=1e-12)
    x = to_tensor(x, True)
    assert mc.gradcheck(lambda t, w, b: layer(t), x, layer.weight, layer.bias)


def test_subsampling_starts_as_average_pooling_and_names_its_parameters():
    layer = nn.Subsampling(4)
    x = to_tensor(np.random.default_rng(0).standard_normal((1, 4, 4, 4)).astype(np.float32))
    np.testing.assert_array_equal(layer(x).numpy(), F.avg_pool2d(x, 2).numpy())
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Subsampling(4))
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        "0.weight": (4, 1, 3, 3), "0.bias": (4,), "1.weight": (4,), "1.bias": (4,)}
    with pytest.raises(mc.ShapeError, match=r"Subsampling layer '1'.*3 channels.*needs 4"):
        model[1].output_shape((3, 8, 8))
    with pytest.raises(mc.ShapeError, match=r"Subsampling layer '1'.*3 channels.*for 4"):
        model[1](to_tensor(np.zeros((1, 3, 8, 8))))


# ----- sigmoid and tanh ------------------------------------------------------------

huge = np.array([-1e4, -1000.0, -745.0, -104.0, -89.0, -30.0, -1.0, -1e-30, 0.0, 1e-30, 1.0,
                 17.0, 30.0, 89.0, 104.0, 745.0, 1000.0, 1e4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_never_overflow_and_keep_the_dtype(backend_name, dtype):
    """No overflow, no 0/0, no NaN, even at float32's largest values.

    Underflow is allowed: exp(-1000) is 0 to every float's precision, and
    0 is the right answer for sigmoid(-1000).
    """
    values = np.concatenate([huge, [np.finfo(dtype).max, -np.finfo(dtype).max]]).astype(dtype)
    for op, expected in ((F.sigmoid, naive.sigmoid), (F.tanh, naive.tanh)):
        x = to_tensor(values, True)
        with np.errstate(all="raise", under="ignore"):
            y = op(x)
            y.backward(to_tensor(np.ones_like(values)).data)
        assert y.dtype == dtype and x.grad.dtype == dtype
        assert np.isfinite(y.numpy()).all() and np.isfinite(mc.to_numpy(x.grad)).all()
        # to rounding where the answer is a normal number, within the smallest normal one below it
        rtol = 1e-6 if dtype == np.float32 else 1e-15
        np.testing.assert_allclose(y.numpy(), expected(values.astype(np.float64)), rtol=rtol,
                                   atol=np.finfo(dtype).tiny)
    exact = F.sigmoid(to_tensor(np.array([-1000.0, 0.0, 1000.0], dtype))).numpy()
    assert exact.tolist() == [0.0, 0.5, 1.0]


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), scale=st.sampled_from([1.0, 10.0, 100.0]),
       seed=st.integers(0, 999))
def test_sigmoid_and_tanh_match_naive_loops(backend_name, shape, scale, seed):
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    np.testing.assert_allclose(F.sigmoid(to_tensor(x)).numpy(), naive.sigmoid(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(F.tanh(to_tensor(x)).numpy(), naive.tanh(x), rtol=1e-15, atol=0)


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), seed=st.integers(0, 999))
def test_sigmoid_and_tanh_gradients(backend_name, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    assert mc.gradcheck(F.sigmoid, to_tensor(x, True))
    assert mc.gradcheck(F.tanh, to_tensor(x, True))


def test_squashing_gradients_are_y_one_minus_y_and_one_minus_y_squared(backend_name):
    x = to_tensor(np.array([-2.0, 0.0, 3.0]), True)
    y = F.sigmoid(x)
    y.sum().backward()
    np.testing.assert_allclose(mc.to_numpy(x.grad), y.numpy() * (1 - y.numpy()), rtol=1e-15)
    assert mc.to_numpy(x.grad)[1] == 0.25
    x.grad = None
    y = F.tanh(x)
    y.sum().backward()
    np.testing.assert_allclose(mc.to_numpy(x.grad), 1 - y.numpy() ** 2, rtol=1e-15)


def test_squashing_rejects_integers():
    with pytest.raises(TypeError, match="Sigmoid layer '0'.*floating point"):
        nn.Sequential(nn.Sigmoid())(mc.tensor(np.arange(3)))


# ----- the layers in summary(): shapes, receptive fields, repr, state_dict --------------

@given(
    h=st.integers(3, 12), w=st.integers(3, 12), kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ceil_mode=st.booleans(), data=st.data(),
)
def test_avg_pool_layer_shapes_and_fields_are_max_pool_ones(h, w, kh, kw, sh, sw, ceil_mode, data):
    ph, pw = data.draw(st.integers(0, kh // 2)), data.draw(st.integers(0, kw // 2))
    assume(kh <= h + 2 * ph and kw <= w + 2 * pw)
    layer = nn.AvgPool2d((kh, kw), (sh, sw), (ph, pw), ceil_mode, count_include_pad=data.draw(st.booleans()))
    expected = (2, naive.pool_output_size(h, kh, sh, ph, ceil_mode), naive.pool_output_size(w, kw, sw, pw, ceil_mode))
    assert layer.output_shape((2, h, w)) == expected
    assert layer(mc.tensor(np.zeros((1, 2, h, w), np.float32))).shape == (1, *expected)
    ours = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), layer, nn.Sigmoid(), nn.Tanh())
    theirs = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d((kh, kw), (sh, sw), (ph, pw), ceil_mode),
                           nn.ReLU(), nn.ReLU())
    ours_rows, theirs_rows = (m.summary((2, h, w), print_table=False) for m in (ours, theirs))
    assert [(r["output_shape"], r["receptive_field"], r["params"]) for r in ours_rows] == \
           [(r["output_shape"], r["receptive_field"], r["params"]) for r in theirs_rows]


def test_lenet_layers_in_a_summary_table():
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.Subsampling(6), nn.Sigmoid(),
                          nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False))
    rows = model.summary((1, 28, 28), print_table=False)
    assert [r["layer"] for r in rows] == [
        "Conv2d(1, 6, kernel_size=5, padding=2)", "Tanh()", "Subsampling(6, kernel_size=2)", "Sigmoid()",
        "AvgPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)"]
    assert [r["output_shape"] for r in rows] == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (6, 14, 14), (6, 8, 8)]
    assert [r["receptive_field"] for r in rows] == [(5, 5), (5, 5), (6, 6), (6, 6), (10, 10)]
    assert [r["params"] for r in rows] == [156, 0, 12, 0, 0]
    assert repr(nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2)"
    assert repr(nn.AvgPool2d((3, 2), 1)) == "AvgPool2d(kernel_size=(3, 2), stride=1)"
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
