"""Shared test settings: hypothesis profile and the backends to run on.

Op tests take the ``backend_name`` fixture and so run once per backend that
this machine has (numpy always; numba when installed; cupy with a GPU).
Backends that are missing are skipped with the reason minicnn.backends() gives.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minicnn as mc
from minicnn.data import sources

settings.register_profile(
    "minicnn", deadline=None, max_examples=int(os.environ.get("MINICNN_EXAMPLES", "20")),
    # backend_name only sets the backend: sharing it across examples is intended
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors,
                           HealthCheck.function_scoped_fixture],
)
settings.load_profile("minicnn")


def _backend_params():
    params = []
    for name, (available, reason) in mc.backends().items():
        marks = [] if available else [pytest.mark.skip(reason=f"backend {name} unavailable: {reason}")]
        if name == "cupy":
            marks.append(pytest.mark.gpu)
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=_backend_params())
def backend_name(request):
    """Run the test inside ``with mc.using_backend(name)`` for every available backend."""
    with mc.using_backend(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _isolated():
    """Every test starts on the numpy backend with seed 0, and leaves no backend
    behind (the minicnn command picks the fastest backend for its process)."""
    mc.set_backend("numpy")
    mc.manual_seed(0)
    yield
    mc.set_backend("numpy")


def to_tensor(array, requires_grad=False):
    """A float array as a Tensor on the active backend's device."""
    return mc.tensor(np.asarray(array), requires_grad=requires_grad)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Every search place redirected into tmp_path, all empty to begin with."""
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    monkeypatch.delenv("MINICNN_DATA_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "DEBIAN_DIRS", {"fashion-mnist": tmp_path / "debian"})
    monkeypatch.setattr(sources, "EMBEDDED_DIRS", {"fashion-mnist": tmp_path / "embedded"})
    return tmp_path
