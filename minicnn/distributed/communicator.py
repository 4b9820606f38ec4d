"""Communicators: what data-parallel training needs from the processes it runs on.

Data parallelism runs K copies of the same program, the *ranks* 0 .. K-1
(``mpiexec -n K python ...`` starts them). Each rank holds the whole model
and trains on its share of every batch; they agree through a handful of
*collective* operations, which every rank calls at the same point:

    allreduce_sum(buffer)      buffer <- sum of every rank's buffer, on every rank
    broadcast(buffer, root=0)  buffer <- rank root's buffer, on every rank
    allgather(value)           [value of rank 0, value of rank 1, ...] on every rank
    barrier()                  wait until every rank has arrived

A Communicator offers them, with ``rank`` (this process) and ``size`` (K).
Three implementations:

    SingleProcess      K = 1: every operation leaves the data as it is, so the
                       same training code runs with or without MPI
    MPICommunicator    mpi4py over MPI's COMM_WORLD, for NumPy arrays (CuPy
                       arrays are copied to the host and back)
    NCCLCommunicator   (nccl.py) CuPy arrays summed GPU to GPU with NVIDIA's NCCL

This is ChainerMN's design (Akiba et al. 2017, docs/sources.md): a
communicator, gradients all-reduced between backward and update, and each
rank its share of the data. ``world()`` (choose.py) picks the communicator
for the process it runs in.

mpi4py is imported only when an MPICommunicator is made: ``from mpi4py
import MPI`` starts MPI, which a single-process run has no use for.
"""

import os
import sys
import time

from ..engine.backend import is_cupy_array, to_numpy

# Seconds a rank that ends the job waits, after printing why, before MPI_Abort (MPI.abort).
ABORT_GRACE = 0.25


class Communicator:
    """The interface: ``rank``, ``size`` and the collective operations.

    Every method is collective: all ``size`` ranks must call it, in the same
    order, with buffers of the same shape and dtype, or the job waits forever
    (which is why a rank that fails ends the whole job: faults.py).
    """

    rank = 0
    size = 1
    name = "communicator"

    def allreduce_sum(self, buffer):
        """Sum ``buffer`` (any shape, NumPy or CuPy) over the ranks, in place; returns it.

        After the call every rank holds the same sum: buffer_r <- buffer_0 + ... + buffer_{K-1}.
        """
        raise NotImplementedError

    def broadcast(self, buffer, root=0):
        """Overwrite ``buffer`` on every rank with rank ``root``'s, in place; returns it."""
        raise NotImplementedError

    def allgather(self, value):
        """A list of every rank's ``value`` (any small picklable Python object), in rank order."""
        raise NotImplementedError

    def barrier(self):
        """Return only when every rank has called barrier()."""
        raise NotImplementedError

    def abort(self, status=1):
        """End every rank of the job now, with exit status ``status`` (never returns)."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"


class SingleProcess(Communicator):
    """One rank, rank 0: the sum of one buffer is itself, so nothing moves.

    With it ``fit`` runs exactly the single-process arithmetic: the data-parallel
    steps cost a function call and change no number.
    """

    name = "single process"

    def allreduce_sum(self, buffer):
        return buffer

    def broadcast(self, buffer, root=0):
        if root != 0:
            raise ValueError(f"broadcast: root {root} does not exist; a single process is rank 0")
        return buffer

    def allgather(self, value):
        return [value]

    def barrier(self):
        pass

    def abort(self, status=1):
        sys.stderr.flush()
        os._exit(status)


def import_mpi():
    """mpi4py's MPI module (this starts MPI), or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            f"data-parallel training needs mpi4py and an MPI library ({error}); install both from "
            "PyPI with `pip install minicnn[mpi]` (mpi4py and the mpich wheel, which brings mpiexec)"
        ) from error
    return MPI


class MPICommunicator(Communicator):
    """The ranks of an MPI job (mpi4py's COMM_WORLD, or the ``comm`` given).

    NumPy arrays go to MPI as they are (mpi4py reads their memory, no copy).
    CuPy arrays are copied to the host, summed there, and copied back, which
    works with any MPI; pass ``cuda_aware=True`` when your MPI reads GPU
    memory itself (a CUDA-aware Open MPI or MVAPICH), or use NCCLCommunicator.

    The sum, the broadcast and the barrier are MPI's non-blocking ones
    (Iallreduce, Ibcast, Ibarrier), waited for in Python (``wait``): a rank
    waiting inside MPI's own blocking call runs no Python signal handler, so
    Ctrl-C or SIGTERM would not reach it until the others arrive, and they
    may never arrive. Waiting in Python, every rank sees the signal at once.
    """

    name = "MPI"

    def __init__(self, comm=None, cuda_aware=False):
        self.MPI = import_mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.cuda_aware = cuda_aware

    def _through_host(self, buffer):
        return is_cupy_array(buffer) and not self.cuda_aware

    @staticmethod
    def wait(request):
        """Wait for a non-blocking operation, testing it from Python so that signals are handled."""
        while not request.Test():
            pass

    def allreduce_sum(self, buffer):
        if self._through_host(buffer):
            host = to_numpy(buffer)                    # GPU -> host copy
            self.wait(self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM))
            buffer.set(host)                           # host -> GPU, into the same memory
            return buffer
        if is_cupy_array(buffer):
            _synchronize_gpu()  # MPI reads the memory directly: the GPU must have finished writing it
        self.wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM))
        return buffer

    def broadcast(self, buffer, root=0):
        if self._through_host(buffer):
            host = to_numpy(buffer)
            self.wait(self.comm.Ibcast(host, root=root))
            buffer.set(host)
            return buffer
        if is_cupy_array(buffer):
            _synchronize_gpu()
        self.wait(self.comm.Ibcast(buffer, root=root))
        return buffer

    def allgather(self, value):
        self.barrier()   # the long wait for the slowest rank, in Python; then the small exchange
        return self.comm.allgather(value)

    def barrier(self):
        self.wait(self.comm.Ibarrier())

    def on_this_machine(self):
        """(this rank's place among the ranks on its machine, how many ranks that machine runs).

        MPI splits the ranks by the memory they share: one group per machine.
        """
        local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        try:
            return local.Get_rank(), local.Get_size()
        finally:
            local.Free()

    def abort(self, status=1):
        sys.stdout.flush()
        sys.stderr.flush()
        # What this rank just printed sits in a pipe to mpiexec's proxy until the proxy reads it;
        # Abort ends the proxy too, and a message it had not yet read was lost (about one run in
        # eight, tests/test_distributed.py). A moment's wait lets it pass on the rank's last words.
        time.sleep(ABORT_GRACE)
        self.comm.Abort(status)   # asks mpiexec to end every rank of the job
        os._exit(status)          # MPICH's Abort may return before its kill arrives: go no further


def _synchronize_gpu():
    from ..engine.backend import cupy
    cupy.cuda.get_current_stream().synchronize()
