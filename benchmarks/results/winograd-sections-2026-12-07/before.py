"""What step_ab.py and layers_ab.py share: minicnn/engine/kernels/winograd_4x4.py as of an earlier
commit, loaded from git as a module of its own beside the working tree's."""

import importlib.util
import os
import subprocess
import tempfile


def winograd_4x4_at(commit):
    """The module winograd_4x4.py as it was at ``commit`` (its relative imports resolve in
    the installed minicnn)."""
    source = subprocess.run(["git", "show", f"{commit}:minicnn/engine/kernels/winograd_4x4.py"],
                            capture_output=True, text=True, check=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout
    path = os.path.join(tempfile.mkdtemp(), "winograd_4x4_before.py")
    with open(path, "w") as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("minicnn.engine.kernels.winograd_4x4_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
