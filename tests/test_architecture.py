"""The package's two layers, checked: the engine stands alone, the lab is built on it.

docs/architecture.md draws the layers. Two kinds of check:
- statically, from each module's import statements: the engine imports
  nothing else from minicnn and no plotting, progress-bar or benchmarking
  library; every lab package imports only the packages below it;
- in a fresh interpreter in which matplotlib and tqdm cannot be imported,
  ``import minicnn`` trains a small convnet for one step and loads no module
  of the lab.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minicnn"

# What each part of minicnn may import from minicnn (besides itself), bottom to top.
ALLOWED = {
    "engine": set(),
    "data": {"engine"},
    "models": {"engine"},
    "distributed": {"engine"},
    "training": {"engine", "data", "models", "distributed"},
    "visualize": {"engine", "data", "models", "distributed", "training"},
    "bench": {"engine", "data", "models", "distributed", "training"},
    "explore": {"engine", "data", "models", "distributed", "training", "visualize"},
    "reproduce": {"engine", "data", "models", "distributed", "training", "visualize"},
    "cli": {"engine", "data", "models", "distributed", "training", "visualize", "bench", "explore", "reproduce"},
}
# Libraries the engine must never import: the lab's tools, not the engine's.
NOT_IN_ENGINE = {"matplotlib", "tqdm", "torch", "threadpoolctl", "pytest", "hypothesis", "PIL"}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, module=None):
    """Absolute names of every module a file imports (relative imports resolved).

    module: the file's own dotted name (default: from its place in minicnn/).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (module or module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.append(source)
            names += [f"{source}.{alias.name}" for alias in node.names]
    return names


def part_of(name):
    """'minicnn.training.loop' -> 'training'; None for other libraries or minicnn itself."""
    parts = name.split(".")
    if parts[0] != "minicnn" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ALLOWED else None


def test_every_part_of_minicnn_is_in_the_table():
    parts = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert parts == set(ALLOWED), "a new package needs its row in ALLOWED (and in docs/architecture.md)"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_point_down_only(part):
    wrong = []
    for path in sorted((PACKAGE / part).rglob("*.py")):
        for name in imported_modules(path):
            target = part_of(name)
            if target is not None and target != part and target not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
            if part == "engine" and (name.split(".")[0] in NOT_IN_ENGINE or (
                    name.split(".")[0] == "minicnn" and not name.startswith("minicnn.engine"))):
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_the_checker_resolves_relative_imports(tmp_path):
    """The static check is not vacuous: a relative import from the engine into the lab is seen."""
    fake = tmp_path / "fake.py"
    fake.write_text("from ...training import fit\nfrom .. import kernels\n")
    names = imported_modules(fake, module="minicnn.engine.functional.fake")
    assert "minicnn.training" in names and "minicnn.engine.kernels" in names
    assert part_of("minicnn.training.loop") == "training" and part_of("numpy") is None


STEP_WITHOUT_THE_LAB = r"""
import builtins, json, sys
real_import = builtins.__import__
def refuse(name, *args, **kwargs):
    if name.split(".")[0] in ("matplotlib", "tqdm"):
        raise ModuleNotFoundError(f"No module named {name!r} (made unimportable by the test)")
    return real_import(name, *args, **kwargs)
builtins.__import__ = refuse

import numpy as np
import minicnn as mc
from minicnn import nn, optim, functional as F

mc.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x = mc.tensor(np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype("float32"))
labels = np.array([0, 1, 2, 0, 1])
before = model[0].weight.data.copy()
loss = F.cross_entropy(model(x), labels)
loss.backward()
opt.step()
print(json.dumps({
    "loss": float(loss.data),
    "changed": bool(np.abs(model[0].weight.data - before).max() > 0),
    "modules": sorted(m for m in sys.modules if m.startswith("minicnn")),
    "tools": sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "tqdm")),
}))
"""


def test_import_minicnn_trains_a_step_without_matplotlib_or_tqdm_and_loads_only_the_engine():
    result = subprocess.run([sys.executable, "-c", STEP_WITHOUT_THE_LAB], capture_output=True, text=True,
                            timeout=120, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["changed"] and report["loss"] > 0
    assert report["tools"] == []
    public = ("minicnn", "minicnn.nn", "minicnn.functional", "minicnn.optim")   # the engine's public face
    lab = [name for name in report["modules"] if name not in public and not name.startswith("minicnn.engine")]
    assert lab == [], f"import minicnn loaded modules of the lab: {lab}"
    assert "minicnn.engine.functional.conv" in report["modules"]
