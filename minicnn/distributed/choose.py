"""Which communicator: one process, MPI, or MPI with NCCL for the GPUs.

    communicator = world()      # MPI's ranks under mpiexec, else this process alone

``world()`` reads how the process was started (mpiexec leaves variables in
the environment of every process it starts) and what the machine has (a GPU
of its own for every rank), and makes the communicator to match:
SingleProcess or MPICommunicator (communicator.py), or NCCLCommunicator
(nccl.py). It lives here, above both modules, so that each of them imports
only what it builds on: nccl.py uses communicator.py, and nothing below
imports back up.
"""

import os

from ..engine import backend
from .communicator import MPICommunicator, SingleProcess
from .nccl import NCCLCommunicator

# Variables that the process managers of MPICH (hydra: PMI_*), Open MPI (OMPI_*) and
# Slurm (PMIX_*) set in every process they start: their presence means "started by mpiexec".
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")


def started_by_mpiexec():
    """True when this process was started by mpiexec/mpirun/srun (read from the environment)."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def launched_ranks():
    """How many processes mpiexec started (from the environment, without starting MPI); 1 if none."""
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def world(distributed=None, nccl=None):
    """The communicator for this process.

    distributed=None: MPI when started by mpiexec, else SingleProcess.
    distributed=True: MPI (an ImportError says how to install it); a
    single ``python ...`` run is then an MPI job of one rank.
    distributed=False: SingleProcess.
    nccl=True: with MPI, sum CuPy arrays with NCCL (nccl.py), one GPU per rank;
    None: NCCL when the backend is cupy and every rank has a GPU of its own
    (NCCL refuses two ranks on one GPU; MPI then sums through the host).
    """
    if distributed is None:
        distributed = started_by_mpiexec()
    if not distributed:
        return SingleProcess()
    mpi = MPICommunicator()
    if nccl is None:
        nccl = (backend.get_backend() == "cupy" and backend.cupy is not None
                and backend.cupy.cuda.runtime.getDeviceCount() >= mpi.on_this_machine()[1])
    if nccl:
        return NCCLCommunicator(mpi)
    return mpi
