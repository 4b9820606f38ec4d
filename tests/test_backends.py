"""Backend selection, devices, and whole-model parity across backends."""

import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn import optim
from minicnn.models import zfnet_small

available = [name for name, (ok, _) in mc.backends().items() if ok]
needs_gpu = pytest.mark.skipif("cupy" not in available, reason=f"needs a CUDA GPU with CuPy: {mc.backends()['cupy'][1]}")


def test_backends_lists_every_backend_with_a_reason_when_missing():
    listing = mc.backends()
    assert list(listing) == ["numpy", "numba", "cupy"]
    assert listing["numpy"] == (True, "")
    for name, (ok, reason) in listing.items():
        assert ok or "install" in reason or "device" in reason, (name, reason)


@pytest.mark.skipif("cupy" in available, reason="this machine has CuPy and a GPU")
def test_asking_for_missing_cupy_says_how_to_get_it():
    with pytest.raises(RuntimeError, match=r"backend 'cupy' is not available on this machine: .*(pip install|device)"):
        mc.set_backend("cupy")


def test_backend_block_restores_the_previous_backend():
    before = mc.get_backend()
    with mc.using_backend("numba" if "numba" in available else "numpy"):
        assert mc.get_backend() in available
    assert mc.get_backend() == before


def test_environment_variable_picks_the_backend():
    env = dict(os.environ, MINICNN_BACKEND="numba")
    out = subprocess.run([sys.executable, "-c", "import minicnn as mc; print(mc.get_backend())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numba"


def test_to_cpu_is_a_no_op_on_cpu_tensors():
    t = mc.tensor(np.ones(3))
    assert t.to("cpu") is t


def _train(backend, steps=20, dtype="float64"):
    """zfnet_small (no dropout: CPU and GPU generators differ) for ``steps`` SGD steps."""
    with mc.using_backend(backend):
        mc.manual_seed(0)
        model = zfnet_small(dropout=0.0).to(dtype)
        device = "gpu" if backend == "cupy" else "cpu"
        model.to(device)
        g = np.random.default_rng(0)
        images = mc.tensor(g.random((16, 1, 28, 28)).astype(dtype), device=device)
        labels = g.integers(0, 10, 16)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0]  # it trained, and did not diverge
        return model.state_dict()


@pytest.mark.parametrize("backend", [b for b in ("numba", "cupy")])
def test_whole_model_parity_after_20_steps(backend):
    if backend not in available:
        pytest.skip(f"backend {backend} unavailable: {mc.backends()[backend][1]}")
    reference, other = _train("numpy"), _train(backend)
    for name in reference:
        np.testing.assert_allclose(other[name], reference[name], rtol=1e-7, atol=1e-10, err_msg=name)


@needs_gpu
def test_model_and_tensors_move_between_devices():
    model = zfnet_small()
    model.to("gpu")
    assert all(p.device == "gpu" for p in model.parameters())
    x = mc.tensor(np.zeros((2, 1, 28, 28), np.float32))
    with pytest.raises(RuntimeError, match=r"conv2d: inputs live on different devices \(input on cpu, weight on gpu"):
        model(x)
    y = model(x.to("gpu"))
    assert y.device == "gpu"
    model.to("cpu")
    assert all(p.device == "cpu" for p in model.parameters())
