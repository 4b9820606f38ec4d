"""Run minicnn's benchmarks: ``python benchmarks/run.py [--quick] [--suite ...] [--backends ...] [--out DIR]``.

A thin wrapper around ``minicnn.bench`` (``minicnn bench`` takes the same
options; see ``--help`` and benchmarks/README.md). It sets the thread
counts before NumPy, Numba and PyTorch load, because OpenBLAS and OpenMP
read them only once, at load time; ``minicnn bench`` applies them at run
time instead (and records, in both cases, what each library reports).
"""

import os
import pathlib
import sys


def _threads(argv, default="2"):
    """The value of --threads in argv (``--threads N`` or ``--threads=N``), else the default."""
    for index, argument in enumerate(argv):
        if argument == "--threads" and index + 1 < len(argv):
            return argv[index + 1]
        if argument.startswith("--threads="):
            return argument.split("=", 1)[1]
    return default


if __name__ == "__main__":
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = _threads(sys.argv[1:])
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    from minicnn.bench import main

    sys.exit(main(sys.argv[1:]))
