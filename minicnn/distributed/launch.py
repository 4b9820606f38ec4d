"""Finding ``mpiexec`` and building the command that starts K ranks.

``pip install minicnn[mpi]`` installs the mpich wheel, which puts ``mpiexec``
in the same ``bin`` directory as the ``python`` it was installed for; a
system MPI (apt-get install mpich, or Open MPI) puts it on PATH. The tests,
tutorial 14 and benchmarks/distributed.py start ranks with:

    mpiexec_command(2, [sys.executable, "-m", "minicnn", "train", "--distributed", ...])

Open MPI refuses to run as root and to start more ranks than there are
cores unless asked (--allow-run-as-root, --oversubscribe); MPICH needs
neither. ``mpiexec_command`` adds the flags when the mpiexec is Open MPI's.
"""

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path


def find_mpiexec():
    """The path of an mpiexec (the Python environment's first, then PATH), or None."""
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = directory / "mpiexec"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("mpiexec")


@functools.lru_cache(maxsize=None)
def is_open_mpi(mpiexec):
    """True when ``mpiexec --version`` says Open MPI (or its runtime, OpenRTE / PRRTE)."""
    try:
        text = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(name in text for name in ("Open MPI", "OpenRTE", "PRRTE"))


def mpiexec_command(ranks, command, mpiexec=None):
    """The argument list that runs ``command`` (a list) as ``ranks`` MPI processes.

    Raises FileNotFoundError, saying how to install MPI, when there is no mpiexec.
    """
    mpiexec = mpiexec or find_mpiexec()
    if mpiexec is None:
        raise FileNotFoundError("no mpiexec in this Python environment or on PATH; install MPI "
                                "with `pip install minicnn[mpi]` (mpi4py and the mpich wheel)")
    flags = []
    if is_open_mpi(mpiexec):
        flags = ["--oversubscribe"] + (["--allow-run-as-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    return [mpiexec, *flags, "-n", str(ranks), *command]
