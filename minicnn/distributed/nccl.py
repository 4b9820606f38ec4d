"""NCCLCommunicator: CuPy gradients summed GPU to GPU, one GPU per rank.

On GPUs the MPICommunicator's way, copying the gradient buffer to the host,
summing it over the network and copying it back, spends two PCIe copies on
every step. NVIDIA's NCCL sums buffers that stay in GPU memory, over NVLink
between the GPUs of one machine and over InfiniBand or Ethernet between
machines, with the same ring algorithm tutorial 14 describes. CuPy wraps it
as ``cupy.cuda.nccl``.

MPI still starts the job and carries the small things: rank 0 makes NCCL's
unique id (128 bytes naming the new NCCL group) and broadcasts it with MPI,
then every rank joins the group with ``NcclCommunicator(size, id, rank)``.
Host arrays (NumPy), Python objects, the barrier and abort go through MPI.

    mpiexec -n 4 python -m minicnn train --distributed --backend cupy ...

runs with this communicator when every rank has a GPU of its own: the k-th
rank on a machine uses that machine's GPU k. With fewer GPUs than ranks,
``world()`` sums through the host with MPICommunicator instead.

Not tested here: minicnn's tests run on machines with no GPU or one, and NCCL
needs one GPU per rank (it refuses two ranks on the same device). What the
tests do check: that without CuPy asking for this communicator says why.
"""

from ..engine import backend
from .communicator import Communicator, MPICommunicator


def nccl_module():
    """``cupy.cuda.nccl``, or an ImportError that says what is missing."""
    if backend.cupy is None:
        raise ImportError(f"NCCLCommunicator needs CuPy on a CUDA GPU: {backend.cupy_reason}")
    try:
        from cupy.cuda import nccl
    except ImportError as error:
        raise ImportError(f"this CuPy was built without NCCL ({error}); install the cupy-cudaXXx wheel "
                          "for your CUDA version, which includes it, or use MPICommunicator") from error
    if not getattr(nccl, "available", True):
        raise ImportError("CuPy cannot load the NCCL library; install it "
                          "(pip install nvidia-nccl-cu12) or use MPICommunicator")
    return nccl


def nccl_dtype(nccl, dtype):
    """NCCL's name for a float dtype: float32 -> NCCL_FLOAT32, float64 -> NCCL_FLOAT64."""
    names = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}
    if str(dtype) not in names:
        raise TypeError(f"NCCLCommunicator sums float16, float32 or float64 buffers, not {dtype}")
    return names[str(dtype)]


class NCCLCommunicator(Communicator):
    """Sum and broadcast CuPy buffers with NCCL; everything else through ``mpi`` (an MPICommunicator)."""

    name = "NCCL"

    def __init__(self, mpi=None):
        self.nccl = nccl_module()
        self.mpi = MPICommunicator() if mpi is None else mpi
        self.rank, self.size = self.mpi.rank, self.mpi.size
        cupy = backend.cupy
        local_rank, local_ranks = self.mpi.on_this_machine()
        gpus = cupy.cuda.runtime.getDeviceCount()
        if gpus < local_ranks:
            raise RuntimeError(f"NCCLCommunicator: {local_ranks} ranks on this machine but {gpus} GPU(s); "
                               "NCCL needs a GPU of its own for every rank (start fewer ranks, or sum "
                               "through the host with MPICommunicator)")
        self.device = local_rank                                 # one GPU per rank on each machine
        cupy.cuda.Device(self.device).use()
        unique_id = self.nccl.get_unique_id() if self.rank == 0 else None
        unique_id = self.mpi.comm.bcast(unique_id, root=0)       # the group's name, through MPI
        self.group = self.nccl.NcclCommunicator(self.size, unique_id, self.rank)

    def allreduce_sum(self, buffer):
        if not backend.is_cupy_array(buffer):
            return self.mpi.allreduce_sum(buffer)
        stream = backend.cupy.cuda.get_current_stream()
        # in place: NCCL allows the send and receive buffers to be the same memory. The sum is
        # queued on the stream the gradients were computed on, so it starts after them.
        self.group.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size,
                             nccl_dtype(self.nccl, buffer.dtype), self.nccl.NCCL_SUM, stream.ptr)
        return buffer

    def broadcast(self, buffer, root=0):
        if not backend.is_cupy_array(buffer):
            return self.mpi.broadcast(buffer, root)
        stream = backend.cupy.cuda.get_current_stream()
        self.group.bcast(buffer.data.ptr, buffer.size, nccl_dtype(self.nccl, buffer.dtype), root, stream.ptr)
        return buffer

    def allgather(self, value):
        return self.mpi.allgather(value)

    def barrier(self):
        backend.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier()

    def abort(self, status=1):
        self.mpi.abort(status)
