"""Every tutorial runs end to end (fast mode) and is a valid Jupytext notebook.

Each ``tutorials/NN_topic.py`` is executed as a script in a subprocess, as a
learner would run it, with MINICNN_FAST=1 (tiny data, few epochs) and its
figures sent to a temporary directory. The tutorials assert their own
claims (shapes, parameter counts, gradients), so a broken library fails here.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def test_tutorials_exist():
    assert TUTORIALS, "no tutorials/NN_topic.py files found"
    numbers = [path.name[:2] for path in TUTORIALS]
    assert len(set(numbers)) == len(numbers), f"two tutorials share a number: {numbers}"


@pytest.mark.parametrize("path", TUTORIALS, ids=[path.stem for path in TUTORIALS])
def test_tutorial_runs_in_fast_mode(path, tmp_path):
    env = dict(os.environ)
    env.update({
        "MINICNN_FAST": "1",
        "MINICNN_TUTORIAL_OUT": str(tmp_path),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    })
    result = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, (
        f"{path.name} failed (exit {result.returncode})\n--- stdout (end) ---\n{result.stdout[-3000:]}"
        f"\n--- stderr (end) ---\n{result.stderr[-3000:]}"
    )
    figures = sorted(tmp_path.glob("*.png"))
    assert figures, f"{path.name} wrote no PNG figure into MINICNN_TUTORIAL_OUT"
    for figure in figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{figure.name} is not a PNG file"


@pytest.mark.parametrize("path", TUTORIALS, ids=[path.stem for path in TUTORIALS])
def test_tutorial_is_a_percent_notebook(path):
    jupytext = pytest.importorskip("jupytext")
    text = path.read_text()
    assert jupytext.formats.guess_format(text, ".py")[0] == "percent", f"{path.name} is not in percent format"
    notebook = jupytext.read(path)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds[0] == "markdown", f"{path.name} should open with a markdown cell (its title)"
    assert notebook.cells[0].source.lstrip().startswith("# "), f"{path.name}: the first cell should be a title"
    assert "code" in kinds and kinds.count("markdown") >= 3, f"{path.name}: too few explanation or code cells"
    assert "minicnn/" in text, f"{path.name} should point to where minicnn implements its idea"


def test_readme_lists_every_tutorial():
    readme = (ROOT / "tutorials" / "README.md").read_text()
    for path in TUTORIALS:
        assert path.name in readme, f"tutorials/README.md does not list {path.name}"
