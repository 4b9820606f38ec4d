"""PyTorch's import habits work, and conv_transpose2d is an engine op.

- ``import minicnn.nn as nn``, ``from minicnn.nn import Conv2d``, ``import
  minicnn.functional as F``, ``from minicnn.functional import conv2d``,
  ``import minicnn.optim as optim``, ``from minicnn.optim import SGD``: each
  in a fresh interpreter, each giving the engine's own objects; and
  ``import minicnn`` with those three still loads no module of the lab;
- ``F.conv_transpose2d`` (minicnn/engine/functional/transposed.py) three
  ways, as docs/style.md rule 6 asks: against naive loops in which every
  input pixel scatters weight times value over its output window, by a
  float64 gradient check, and against PyTorch's conv_transpose2d, values and
  gradients; plus the reason it exists: it is conv2d's input gradient.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.engine.functional
import minicnn.engine.nn
import minicnn.engine.optim
import minicnn.functional as F
from minicnn.engine.errors import ArgumentError
from minicnn.engine.shapes import ShapeError

from conftest import to_tensor
from oracles import import_oracle

ROOT = Path(__file__).resolve().parents[1]


def run_fresh(code):
    """Run ``code`` in a fresh interpreter from the repository root; returns the finished process."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)


# ----- the six habits -------------------------------------------------------------------

HABITS = {
    "import minicnn.nn as nn": (
        "import minicnn.nn as nn\nimport minicnn.engine.nn as engine\n"
        "assert nn.Conv2d is engine.Conv2d and nn.Sequential is engine.Sequential\n"
        "import minicnn\nfrom minicnn import nn as again\nassert again is nn is minicnn.nn\n"),
    "from minicnn.nn import Conv2d, Sequential": (
        "from minicnn.nn import Conv2d, Sequential\nimport minicnn.engine.nn as engine\n"
        "assert Conv2d is engine.Conv2d and Sequential is engine.Sequential\n"),
    "import minicnn.functional as F": (
        "import minicnn.functional as F\nimport minicnn.engine.functional as engine\n"
        "assert F.conv2d is engine.conv2d and F.max_unpool2d is engine.max_unpool2d\n"
        "import minicnn\nassert minicnn.functional is F\n"),
    "from minicnn.functional import conv2d, max_pool2d, conv_transpose2d": (
        "from minicnn.functional import conv2d, max_pool2d, conv_transpose2d\n"
        "import minicnn.engine.functional as engine\n"
        "from minicnn.engine.functional.transposed import conv_transpose2d as op\n"
        "assert conv2d is engine.conv2d and max_pool2d is engine.max_pool2d and conv_transpose2d is op\n"),
    "import minicnn.optim as optim": (
        "import minicnn.optim as optim\nimport minicnn.engine.optim as engine\n"
        "assert optim.SGD is engine.SGD\nimport minicnn\nassert minicnn.optim is optim\n"),
    "from minicnn.optim import SGD": (
        "from minicnn.optim import SGD\nimport minicnn.engine.optim as engine\nassert SGD is engine.SGD\n"),
}


@pytest.mark.parametrize("habit", sorted(HABITS))
def test_pytorch_import_habit_works_in_a_fresh_interpreter(habit):
    result = run_fresh(HABITS[habit])
    assert result.returncode == 0, f"{habit!r} failed:\n{result.stderr}"


@pytest.mark.parametrize("public, engine", [(mc.nn, minicnn.engine.nn), (F, minicnn.engine.functional),
                                            (mc.optim, minicnn.engine.optim)],
                         ids=["nn", "functional", "optim"])
def test_each_public_module_names_the_engines_objects(public, engine):
    """Every name in the public module's __all__ is the engine's own object, and
    nn and functional offer everything their engine package does."""
    for name in public.__all__:
        assert getattr(public, name) is getattr(engine, name), name
    if hasattr(engine, "__all__"):
        assert set(public.__all__) == set(engine.__all__)


LOADED_AFTER_IMPORT = r"""
import json, sys
import minicnn
import minicnn.nn, minicnn.functional, minicnn.optim
print(json.dumps(sorted(sys.modules)))
"""

LAB = ("data", "models", "training", "visualize", "bench", "cli", "distributed", "explore")


def test_the_public_modules_load_the_engine_alone():
    result = run_fresh(LOADED_AFTER_IMPORT)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    lab = [name for name in modules if name.split(".")[0] == "minicnn" and name.split(".")[1:2]
           and name.split(".")[1] in LAB]
    assert lab == [], f"import minicnn and its public modules loaded the lab: {lab}"
    tools = [name for name in modules if name.split(".")[0] in ("matplotlib", "tqdm")]
    assert tools == [], f"import minicnn loaded plotting or progress-bar libraries: {tools}"
    assert {"minicnn.nn", "minicnn.functional", "minicnn.optim"} <= set(modules)


# ----- conv_transpose2d -----------------------------------------------------------------

def naive_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Every input pixel scatters its value times the filter over its output window.

    x: (N, C_in, H, W); w: (C_in, C_out/G, KH, KW); b: (C_out,) or None.
    Input channel ci belongs to group ci // (C_in/G) and writes to that
    group's C_out/G output channels; tap (i, j) of pixel (iy, ix) lands on
    output (iy*SH - PH + i*DH, ix*SW - PW + j*DW), dropped when outside.
    """
    n, in_channels, height, width = x.shape
    _, group_out, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    oh = (height - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (width - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    y = np.zeros((n, groups * group_out, oh, ow))
    for image in range(n):
        for ci in range(in_channels):
            group = ci // (in_channels // groups)
            for iy in range(height):
                for ix in range(width):
                    for co in range(group_out):
                        for i in range(kh):
                            for j in range(kw):
                                oy, ox = iy * sh - ph + i * dh, ix * sw - pw + j * dw
                                if 0 <= oy < oh and 0 <= ox < ow:
                                    value = x[image, ci, iy, ix] * w[ci, co, i, j]
                                    y[image, group * group_out + co, oy, ox] += value
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


@st.composite
def transposed_cases(draw):
    """Non-square kernels, stride > 1, padding, dilation, output_padding, odd sizes, groups."""
    groups = draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1
           for n, s, p, d, k, op in zip(size, stride, padding, dilation, kernel, output_padding)]
    assume(min(out) >= 1)
    return {
        "x": (draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))) + size,
        "group_out": draw(st.integers(1, 2)), "groups": groups, "kernel": kernel,
        "settings": {"stride": stride, "padding": padding, "output_padding": output_padding,
                     "groups": groups, "dilation": dilation},
        "bias": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
    }


def transposed_arrays(case):
    """x, w, b (b None without bias) as float64 NumPy arrays for a drawn case."""
    g = np.random.default_rng(case["seed"])
    x = g.standard_normal(case["x"])
    w = g.standard_normal((case["x"][1], case["group_out"]) + case["kernel"])
    b = g.standard_normal(case["groups"] * case["group_out"]) if case["bias"] else None
    return x, w, b


@given(case=transposed_cases())
def test_conv_transpose2d_matches_naive_loops(backend_name, case):
    x, w, b = transposed_arrays(case)
    y = F.conv_transpose2d(to_tensor(x), to_tensor(w), None if b is None else to_tensor(b), **case["settings"])
    settings = case["settings"]
    expected = naive_conv_transpose2d(x, w, b, settings["stride"], settings["padding"], settings["output_padding"],
                                      settings["groups"], settings["dilation"])
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)


@given(case=transposed_cases())
def test_conv_transpose2d_gradients(backend_name, case):
    x, w, b = transposed_arrays(case)
    inputs = [to_tensor(x, True), to_tensor(w, True)] + ([to_tensor(b, True)] if b is not None else [])
    assert mc.gradcheck(lambda *t: F.conv_transpose2d(*t, **case["settings"]), *inputs)


@given(case=transposed_cases())
def test_conv_transpose2d_matches_pytorch(backend_name, case):
    """Values and the gradients of input, weight and bias, float64, to 1e-9."""
    torch = import_oracle("torch")
    arrays = [a for a in transposed_arrays(case) if a is not None]
    ours = [to_tensor(a.copy(), True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    settings = case["settings"]
    y = F.conv_transpose2d(*ours, **settings)
    expected = torch.nn.functional.conv_transpose2d(*theirs, **settings)
    np.testing.assert_allclose(y.numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(mc.tensor(g).data)                         # on the active backend's device
    expected.backward(torch.tensor(g))
    for mine, torchs in zip(ours, theirs):
        np.testing.assert_allclose(mc.to_numpy(mine.grad), torchs.grad.numpy(), rtol=1e-9, atol=1e-12)


@given(case=transposed_cases())
def test_conv_transpose2d_is_the_input_gradient_of_conv2d(backend_name, case):
    """ZFNet 2.1's transposed filters: conv2d run on an input shaped like the output,
    seeded with x as its output gradient, sends back exactly conv_transpose2d(x, w)."""
    x, w, _ = transposed_arrays(case)
    settings = dict(case["settings"])
    y = F.conv_transpose2d(to_tensor(x), to_tensor(w), **settings)
    reach = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
             zip(y.shape[2:], settings["padding"], settings["dilation"], case["kernel"], settings["stride"])]
    assume(reach == list(x.shape[2:]))               # output_padding below the stride: conv2d gives H back
    u = to_tensor(np.zeros(y.shape), True)
    z = F.conv2d(u, to_tensor(w), None, settings["stride"], settings["padding"], settings["dilation"],
                 settings["groups"])
    z.backward(mc.tensor(x).data)
    np.testing.assert_allclose(mc.to_numpy(u.grad), y.numpy(), rtol=1e-12, atol=1e-12)


def test_conv_transpose2d_float32_stays_float32(backend_name):
    g = np.random.default_rng(0)
    y = F.conv_transpose2d(to_tensor(g.standard_normal((1, 2, 4, 5)).astype(np.float32)),
                           to_tensor(g.standard_normal((2, 3, 3, 2)).astype(np.float32)), stride=2)
    assert y.dtype == np.float32 and y.shape == (1, 3, 9, 10)


def test_conv_transpose2d_errors_name_the_setting():
    x, w = np.zeros((1, 4, 3, 3)), np.zeros((4, 2, 3, 3))
    with pytest.raises(ArgumentError, match=r"output_padding must be below max\(stride, dilation\) = 2"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ShapeError, match=r"input has 3 channels .* needs C_in = 4"):
        F.conv_transpose2d(np.zeros((1, 3, 3, 3)), w)
    with pytest.raises(ShapeError, match=r"groups=3 does not divide the 4 input channels"):
        F.conv_transpose2d(x, w, groups=3)
    with pytest.raises(ShapeError, match=r"is below 1: padding 2 crops more than the output has"):
        F.conv_transpose2d(np.zeros((1, 4, 1, 1)), w, padding=2)
    with pytest.raises(ShapeError, match=r"the input height is 0 \(input \(1, 4, 0, 3\)"):
        F.conv_transpose2d(np.zeros((1, 4, 0, 3)), w)
    with pytest.raises(ShapeError, match=r"the kernel width is 0"):
        F.conv_transpose2d(x, np.zeros((4, 2, 3, 0)))
    with pytest.raises(ShapeError, match=r"bias must have shape \(2,\)"):
        F.conv_transpose2d(x, w, np.zeros(4))
