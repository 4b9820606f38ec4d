"""Layers, models and SGD: state_dict names, modes, dtypes, the optimizer's
update rule, ZFNet's filter renormalization, and that the engine learns."""

import numpy as np

import minicnn as mc
from minicnn import functional as F
from minicnn import nn, optim


def small_net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.LocalResponseNorm(3),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 4 * 4, 3),
    )


def test_state_dict_uses_pytorch_names_and_shapes():
    state = small_net().state_dict()
    assert {name: value.shape for name, value in state.items()} == {
        "0.weight": (4, 1, 3, 3), "0.bias": (4,), "6.weight": (3, 64), "6.bias": (3,),
    }
    assert all(isinstance(value, np.ndarray) for value in state.values())


def test_state_dict_round_trip():
    a, b = small_net(), small_net()
    b.load_state_dict(a.state_dict())
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)


def test_nested_modules_have_qualified_names():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3))
            self.classifier = nn.Linear(2, 2)

        def forward(self, x):
            return self.classifier(F.flatten(self.features(x)))

    names = [name for name, _ in Net().named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "classifier.weight", "classifier.bias"]


def test_train_and_eval_modes_switch_dropout():
    model = small_net()
    x = mc.tensor(np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32))
    model.eval()
    assert not model[5].training
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    assert model[5].training
    assert not np.array_equal(model(x).numpy(), model(x).numpy())


def test_to_float64_casts_parameters():
    model = small_net().to("float64")
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model(mc.tensor(np.zeros((1, 1, 8, 8)))).dtype == np.float64


def test_model_gradients_in_float64(backend_name):
    model = small_net().to("float64").eval()
    x = mc.tensor(np.random.default_rng(1).standard_normal((2, 1, 8, 8)) + 0.01)
    labels = np.array([0, 2])
    params = model.parameters()

    def loss(*_):
        return F.cross_entropy(model(x), labels)

    assert mc.gradcheck(loss, *params)


def test_sgd_follows_pytorch_update_rule():
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    grads = [np.array([0.5, 0.5]), np.array([-1.0, 2.0])]
    expected, velocity = np.array([1.0, -2.0]), None
    for grad in grads:
        p.grad = grad.copy()
        opt.step()
        g = grad + 0.01 * expected
        velocity = g if velocity is None else 0.9 * velocity + g
        expected = expected - 0.1 * velocity
        np.testing.assert_allclose(p.data, expected, rtol=1e-12)


def test_sgd_state_round_trip():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    other = optim.SGD([p], lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.lr == 0.1 and other.momentum == 0.9
    np.testing.assert_array_equal(other.velocity[0], opt.velocity[0])


def test_renormalize_filters_caps_rms_at_the_radius():
    layer = nn.Conv2d(2, 3, 3)
    w = np.zeros((3, 2, 3, 3), dtype=np.float32)
    w[0] = 0.5    # RMS 0.5  -> rescaled to 0.1
    w[1] = 0.05   # RMS 0.05 -> untouched
    w[2] = -0.2   # RMS 0.2  -> rescaled to 0.1
    layer.weight.data = w.copy()
    assert optim.renormalize_filters(layer, radius=0.1) == 2
    rms = np.sqrt((layer.weight.data ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(rms, [0.1, 0.05, 0.1], rtol=1e-6)
    np.testing.assert_allclose(layer.weight.data[2], -0.1, rtol=1e-6)   # direction kept
    assert optim.renormalize_filters(nn.Linear(3, 3), radius=1e-6) == 0  # only conv filters


def test_sgd_can_renormalize_after_each_step():
    layer = nn.Conv2d(1, 2, 3)
    opt = optim.SGD(layer.parameters(), lr=1.0, filter_radius=0.1)
    layer.weight.grad = -np.ones_like(layer.weight.data)
    opt.step()
    rms = np.sqrt((layer.weight.data ** 2).mean(axis=(1, 2, 3)))
    assert np.all(rms <= 0.1 + 1e-6)


def test_engine_learns_a_separable_problem(backend_name):
    """Bright-left vs bright-right 8x8 images: a few hundred steps to ~zero loss."""
    g = np.random.default_rng(0)
    labels = g.integers(0, 2, 64)
    x = g.random((64, 1, 8, 8)).astype(np.float32) * 0.2
    for i, label in enumerate(labels):
        x[i, 0, :, label * 4:(label + 1) * 4] += 0.8
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 2))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images = mc.tensor(x)
    first = None
    for step in range(300):
        loss = F.cross_entropy(model(images), labels)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 0.3 and loss.item() < 0.01


def test_grouped_dilated_conv_state_dict_and_initialisation():
    """weight (F, C/groups, KH, KW) as in PyTorch; He's scale from what one filter sees, C/groups*KH*KW."""
    layer = nn.Conv2d(8, 6, 3, dilation=2, groups=2)
    state = nn.Sequential(layer).state_dict()
    assert {name: value.shape for name, value in state.items()} == {"0.weight": (6, 4, 3, 3), "0.bias": (6,)}
    assert repr(layer) == "Conv2d(8, 6, kernel_size=3, dilation=2, groups=2)"
    wide = nn.Conv2d(64, 512, 3, groups=4)
    assert abs(wide.weight.numpy().std() / np.sqrt(2.0 / (16 * 9)) - 1) < 0.02
    copy = nn.Sequential(nn.Conv2d(8, 6, 3, dilation=2, groups=2))
    copy.load_state_dict(state)
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 8, 9, 9)).astype(np.float32))
    np.testing.assert_array_equal(copy(x).numpy(), nn.Sequential(layer)(x).numpy())


def test_dense_layers_draw_the_same_weights_as_before_groups_existed():
    """groups=1 keeps the weight's shape and He scale, so a seed gives the same network."""
    mc.manual_seed(4)
    weight = nn.Conv2d(3, 5, 3).weight.numpy()
    mc.manual_seed(4)
    expected = mc.rng.normal_array((5, 3, 3, 3), np.sqrt(2.0 / 27), np.float32)
    np.testing.assert_array_equal(weight, expected)
