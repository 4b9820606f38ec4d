"""Data-parallel training: the same run on one process or many.

Every rank (process) holds the whole model. For each global batch of B
images, each rank takes its share, computes its gradient, the gradients are
summed over the ranks in one all-reduce, and every rank applies the same
update. ``fit(..., communicator=...)`` (minicnn/training/loop.py) does it;
this package holds the pieces, each small enough to read in one sitting:

    communicator.py   rank, size and the collectives: SingleProcess (one
                      process, nothing moves) and MPICommunicator (mpi4py)
    nccl.py           NCCLCommunicator: CuPy arrays summed GPU to GPU
    choose.py         world(): the communicator that fits how the process
                      was started (mpiexec or not) and the GPUs it has
    sharding.py       which rows of each batch a rank takes
    gradients.py      the gradients' one flat buffer and its all-reduce; rank
                      0's weights broadcast at the start
    faults.py         a failing rank ends the whole job, saying why
    agreement.py      before training: the ranks' settings compared, one verdict
    launch.py         finding mpiexec; the command that starts K ranks

Start it with ``mpiexec -n 2 python -m minicnn train --distributed ...``, or
from Python:

    from minicnn.distributed import world, abort_on_uncaught_exception
    communicator = world()                       # MPI under mpiexec, else one process
    abort_on_uncaught_exception(communicator)
    history = fit(model, train, val, epochs=5, batch_size=128, communicator=communicator)

Tutorial 14 (tutorials/14_data_parallelism.py) explains why it works and
what it costs; benchmarks/distributed.py measures it.

This package imports only the engine; mpi4py is imported when an
MPICommunicator is made, and CuPy's NCCL when an NCCLCommunicator is.
"""

from .communicator import Communicator, MPICommunicator, SingleProcess, import_mpi
from .choose import launched_ranks, started_by_mpiexec, world
from .faults import abort_on_error, abort_on_uncaught_exception, describe_failure
from .agreement import disagreement
from .launch import find_mpiexec, mpiexec_command
from .gradients import GradientAllReduce, broadcast_parameters, check_ranks_agree, parameters_digest
from .nccl import NCCLCommunicator
from .sharding import batch_sizes, empty_share_problem, share

__all__ = [
    "Communicator", "SingleProcess", "MPICommunicator", "NCCLCommunicator", "world",
    "import_mpi", "launched_ranks", "started_by_mpiexec",
    "GradientAllReduce", "broadcast_parameters", "check_ranks_agree", "parameters_digest",
    "share", "batch_sizes", "empty_share_problem",
    "abort_on_error", "abort_on_uncaught_exception", "describe_failure", "disagreement",
    "find_mpiexec", "mpiexec_command",
]
