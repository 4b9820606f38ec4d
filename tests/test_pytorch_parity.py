"""minicnn against PyTorch, op by op. Same inputs, same weights, float64:
values and gradients must agree to rounding. PyTorch is optional on a
newcomer's machine (these tests then skip, saying why) and installed in CI,
where its absence fails them (tests/oracles.py)."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
from minicnn import functional as F
from minicnn import nn
from minicnn.engine import threads

from oracles import import_oracle

torch = import_oracle("torch")
tF = torch.nn.functional


def both(array):
    """The same float64 array as a minicnn tensor and a torch tensor, both needing grads."""
    return mc.tensor(array.copy(), requires_grad=True), torch.tensor(array.copy(), requires_grad=True)


def check(ours, theirs, inputs):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(ours.shape)
    ours.backward(mc.tensor(g).data)                      # on the active backend's device
    theirs.backward(torch.tensor(g))
    for mine, torchs in inputs:
        np.testing.assert_allclose(mc.to_numpy(mine.grad), torchs.grad.numpy(), rtol=1e-9, atol=1e-12)


@given(channels=st.integers(1, 3), k=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.integers(1, 2),
       p=st.tuples(st.integers(0, 1), st.integers(0, 1)), d=st.integers(1, 2),
       pool=st.sampled_from([(2, 2, 0, False), (3, 2, 1, True), (3, 2, 0, True), (2, 1, 0, False)]),
       seed=st.integers(0, 999), relu=st.booleans())
def test_conv2d_max_pool2d_is_pytorchs_max_pool2d_of_conv2d(backend_name, channels, k, stride, p, d, pool, seed,
                                                            relu):
    """The fused op through its public function, on every backend, with the ReLU after the
    pool folded in or not: on numba, stride 1 and at most 27 taps take the route "direct,
    pooled in cache", stride 2 the chunks route."""
    x_np = np.random.default_rng(seed).standard_normal((3, channels, 9, 8))
    out = [(size + 2 * pad - d * (kernel - 1) - 1) // stride + 1 for size, pad, kernel in zip((9, 8), p, k)]
    assume(min(out) >= pool[0] - 2 * pool[2])
    (x, tx), (w, tw), (b, tb) = both(x_np), both(np.random.default_rng(seed + 1).standard_normal((4, channels, *k))), \
        both(np.random.default_rng(seed + 2).standard_normal(4))
    ours = F.conv2d_max_pool2d(x, w, b, stride, p, d, 1, *pool, relu=relu)
    theirs = tF.max_pool2d(tF.conv2d(tx, tw, tb, stride, p, d), pool[0], pool[1], pool[2], ceil_mode=pool[3])
    theirs = torch.relu(theirs) if relu else theirs
    if backend_name == "numba" and stride == 1 and channels * k[0] * k[1] <= 27:
        assert ours.creator.name == f"conv2d+max_pool2d{'+relu' if relu else ''} by direct, pooled in cache"
    check(ours, theirs, [(x, tx), (w, tw), (b, tb)])


@given(kh=st.integers(2, 3), kw=st.integers(3, 4), stride=st.integers(1, 2),
       p=st.tuples(st.integers(0, 1), st.integers(0, 1)),
       pool=st.sampled_from([(2, 2, 0, False), (3, 2, 1, True), (3, 2, 0, False)]), seed=st.integers(0, 999),
       relu=st.booleans())
def test_conv2d_max_pool2d_of_sixteen_channels_is_pytorchs(backend_name, kh, kw, stride, p, pool, seed, relu):
    """A later layer's fused op (16 channels: 96 rows or more, runs of 48 or more) through its public
    function, on every backend: on numba, stride 1 with a 2x2 pool takes the route "im2col
    pooled, gradients at switches"."""
    x_np = np.random.default_rng(seed).standard_normal((3, 16, 10, 9))
    (x, tx), (w, tw), (b, tb) = both(x_np), both(np.random.default_rng(seed + 1).standard_normal((5, 16, kh, kw))), \
        both(np.random.default_rng(seed + 2).standard_normal(5))
    ours = F.conv2d_max_pool2d(x, w, b, stride, p, 1, 1, *pool, relu=relu)
    theirs = tF.max_pool2d(tF.conv2d(tx, tw, tb, stride, p), pool[0], pool[1], pool[2], ceil_mode=pool[3])
    theirs = torch.relu(theirs) if relu else theirs
    if backend_name == "numba" and stride == 1 and pool == (2, 2, 0, False) and threads.blas_control():
        assert ours.creator.name == (f"conv2d+max_pool2d{'+relu' if relu else ''} by im2col pooled, "
                                     f"gradients at switches")
    check(ours, theirs, [(x, tx), (w, tw), (b, tb)])


@given(k=st.tuples(st.integers(1, 4), st.integers(1, 4)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)), seed=st.integers(0, 999))
def test_conv2d(k, s, p, seed):
    g = np.random.default_rng(seed)
    assume(k[0] <= 7 + 2 * p[0] and k[1] <= 6 + 2 * p[1])
    (x, tx), (w, tw), (b, tb) = both(g.standard_normal((2, 3, 7, 6))), both(g.standard_normal((4, 3, *k))), both(g.standard_normal(4))
    check(F.conv2d(x, w, b, s, p), tF.conv2d(tx, tw, tb, s, p), [(x, tx), (w, tw), (b, tb)])


@given(groups=st.integers(2, 3), per_group=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       k=st.tuples(st.integers(1, 3), st.integers(1, 3)), s=st.tuples(st.integers(1, 3), st.integers(1, 2)),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)), d=st.tuples(st.integers(1, 3), st.integers(2, 3)),
       bias=st.booleans(), seed=st.integers(0, 999))
def test_conv2d_grouped_and_dilated(backend_name, groups, per_group, k, s, p, d, bias, seed):
    """groups (1 < groups < C, or C), dilation > 1, non-square kernels, stride, padding, on every backend."""
    channels, filters = groups * per_group[0], groups * per_group[1]
    assume(all(dilation * (kernel - 1) + 1 <= size + 2 * pad for dilation, kernel, size, pad in zip(d, k, (7, 6), p)))
    g = np.random.default_rng(seed)
    (x, tx), (w, tw) = both(g.standard_normal((2, channels, 7, 6))), both(g.standard_normal((filters, per_group[0], *k)))
    pairs = [(x, tx), (w, tw)]
    b = tb = None
    if bias:
        b, tb = both(g.standard_normal(filters))
        pairs.append((b, tb))
    check(F.conv2d(x, w, b, s, p, d, groups), tF.conv2d(tx, tw, tb, s, p, d, groups), pairs)


def test_grouped_dilated_conv2d_layer_has_pytorchs_parameter_shapes_and_values(backend_name):
    ours = nn.Sequential(nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=1, dilation=(2, 1), groups=2),
                         nn.ReLU(), nn.MaxPool2d(2, dilation=2)).to("float64")
    theirs = torch.nn.Sequential(torch.nn.Conv2d(4, 6, (3, 2), (1, 2), 1, (2, 1), 2), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2, dilation=2)).double()
    assert {name: value.shape for name, value in ours.state_dict().items()} == \
           {name: tuple(value.shape) for name, value in theirs.state_dict().items()} == \
           {"0.weight": (6, 2, 3, 2), "0.bias": (6,)}
    theirs.load_state_dict({name: torch.tensor(value) for name, value in ours.state_dict().items()})
    x, tx = both(np.random.default_rng(9).standard_normal((2, 4, 11, 10)))
    check(ours(x), theirs(tx), [(x, tx)])


@given(k=st.tuples(st.integers(1, 3), st.integers(2, 3)), s=st.tuples(st.integers(1, 3), st.integers(1, 2)),
       d=st.tuples(st.integers(1, 3), st.integers(2, 3)), ceil_mode=st.booleans(), data=st.data())
def test_max_pool2d_dilated_with_indices(backend_name, k, s, d, ceil_mode, data):
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    x_np = np.random.default_rng(sum(k) * 7 + sum(s)).permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8).astype(np.float64)
    assume(all(dilation * (kernel - 1) + 1 <= size + 2 * pad for dilation, kernel, size, pad in zip(d, k, (9, 8), p)))
    (x, tx) = both(x_np)
    y, switches = F.max_pool2d(x, k, s, p, ceil_mode, return_switches=True, dilation=d)
    ty, indices = tF.max_pool2d(tx, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
    # a window of padding only gives -inf in both; its index is minicnn's own
    # (inside the image), PyTorch's may lie outside it: those windows are left out
    real = np.isfinite(ty.detach().numpy())
    np.testing.assert_array_equal(mc.to_numpy(switches.indices)[real], indices.numpy()[real])
    assume(real.all())
    check(y, ty, [(x, tx)])


@given(k=st.integers(1, 4), s=st.integers(1, 3), ceil_mode=st.booleans(), data=st.data())
def test_max_pool2d_with_indices(k, s, ceil_mode, data):
    p = data.draw(st.integers(0, k // 2))
    x_np = np.random.default_rng(k * 7 + s).permutation(2 * 3 * 9 * 8).reshape(2, 3, 9, 8).astype(np.float64)
    (x, tx) = both(x_np)
    y, switches = F.max_pool2d(x, k, s, p, ceil_mode, return_switches=True)
    ty, indices = tF.max_pool2d(tx, k, s, p, ceil_mode=ceil_mode, return_indices=True)
    np.testing.assert_array_equal(switches.indices, indices.numpy())
    check(y, ty, [(x, tx)])


@given(k=st.tuples(st.integers(1, 4), st.integers(1, 4)), s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       ceil_mode=st.booleans(), count_include_pad=st.booleans(), data=st.data())
def test_avg_pool2d(backend_name, k, s, ceil_mode, count_include_pad, data):
    """PyTorch's divisor rule, ceil_mode overhang included, on every backend."""
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    h, w = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    assume(k[0] <= h + 2 * p[0] and k[1] <= w + 2 * p[1])
    x, tx = both(np.random.default_rng(h * 10 + w).standard_normal((2, 3, h, w)))
    check(F.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad),
          tF.avg_pool2d(tx, k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad), [(x, tx)])


def test_avg_pool2d_layer_defaults_are_pytorchs(backend_name):
    x, tx = both(np.random.default_rng(4).standard_normal((2, 3, 9, 8)))
    ours, theirs = nn.AvgPool2d(3), torch.nn.AvgPool2d(3)
    assert (ours.stride, ours.padding, ours.ceil_mode, ours.count_include_pad) == \
           ((theirs.stride,) * 2, (theirs.padding,) * 2, theirs.ceil_mode, theirs.count_include_pad)
    check(ours(x), theirs(tx), [(x, tx)])


@pytest.mark.parametrize("ours, theirs", [(F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh)])
def test_sigmoid_and_tanh(backend_name, ours, theirs):
    values = np.random.default_rng(6).standard_normal((4, 5, 6)) * 10
    values[0, 0, :] = [-1000.0, -745.0, -40.0, 40.0, 745.0, 1000.0]
    x, tx = both(values)
    check(ours(x), theirs(tx), [(x, tx)])


def test_lenet_subsampling_is_avg_pool_times_weight_plus_bias(backend_name):
    g = np.random.default_rng(8)
    layer = nn.Subsampling(3).to("float64")
    layer.load_state_dict({"weight": g.standard_normal(3), "bias": g.standard_normal(3)})
    tw, tb = (torch.tensor(layer.state_dict()[name], requires_grad=True) for name in ("weight", "bias"))
    x, tx = both(g.standard_normal((2, 3, 7, 6)))
    theirs = tF.avg_pool2d(tx, 2) * tw.view(1, 3, 1, 1) + tb.view(1, 3, 1, 1)
    check(layer(x), theirs, [(x, tx), (layer.weight, tw), (layer.bias, tb)])


def test_max_unpool_agrees_without_overlap():
    x_np = np.random.default_rng(3).standard_normal((2, 3, 8, 8))
    y, switches = F.max_pool2d(mc.tensor(x_np), 2, return_switches=True)
    ty, indices = tF.max_pool2d(torch.tensor(x_np), 2, return_indices=True)
    ours = F.max_unpool2d(y, switches).numpy()
    np.testing.assert_allclose(ours, tF.max_unpool2d(ty, indices, 2).numpy())


@pytest.mark.parametrize("size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (4, 1.0, 0.75, 1.0), (3, 0.5, 1.5, 1.0)])
def test_local_response_norm(backend_name, size, alpha, beta, k):
    """On every backend: on numba, beta 3/4 takes the route "square roots (beta 3/4)"."""
    x, tx = both(np.random.default_rng(size).standard_normal((2, 7, 4, 5)))
    check(F.local_response_norm(x, size, alpha, beta, k), tF.local_response_norm(tx, size, alpha, beta, k), [(x, tx)])


def test_linear_log_softmax_cross_entropy():
    g = np.random.default_rng(5)
    (x, tx), (w, tw), (b, tb) = both(g.standard_normal((6, 5))), both(g.standard_normal((4, 5))), both(g.standard_normal(4))
    target = g.integers(0, 4, 6)
    check(F.linear(x, w, b), tF.linear(tx, tw, tb), [(x, tx), (w, tw), (b, tb)])
    z, tz = both(g.standard_normal((6, 4)) * 10)
    check(F.log_softmax(z), tF.log_softmax(tz, dim=1), [(z, tz)])
    z, tz = both(g.standard_normal((6, 4)) * 10)
    ours, theirs = F.cross_entropy(z, target), tF.cross_entropy(tz, torch.tensor(target))
    ours.backward()
    theirs.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("squash, pool", [("ReLU", "MaxPool2d"), ("Tanh", "AvgPool2d"), ("Sigmoid", "AvgPool2d")])
def test_state_dict_moves_both_ways_and_sgd_steps_match(squash, pool):
    ours = nn.Sequential(nn.Conv2d(1, 4, 3), getattr(nn, squash)(), getattr(nn, pool)(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 3)).to("float64")
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), getattr(torch.nn, squash)(), getattr(torch.nn, pool)(2),
                                 torch.nn.Flatten(), torch.nn.Linear(36, 3)).double()
    theirs.load_state_dict({name: torch.tensor(value) for name, value in ours.state_dict().items()})
    ours.load_state_dict({name: value.numpy() for name, value in theirs.state_dict().items()})
    g = np.random.default_rng(0)
    x, labels = g.standard_normal((5, 1, 8, 8)), g.integers(0, 3, 5)
    opt = mc.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(ours(mc.tensor(x)), labels).backward()
        opt.step()
        topt.zero_grad()
        tF.cross_entropy(theirs(torch.tensor(x)), torch.tensor(labels)).backward()
        topt.step()
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
