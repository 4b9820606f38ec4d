"""Gradients summed over the ranks through one flat buffer; the weights broadcast the same way.

Between ``loss.backward()`` and ``optimizer.step()`` every rank holds the
gradient of its own share of the batch. ``GradientAllReduce.allreduce``
turns them into the gradient of the whole batch, on every rank:

    1. pack:    buffer[offset_i : offset_i + size_i] = weight * p_i.grad (raveled)
    2. sum:     buffer <- sum over the ranks of buffer       (one all-reduce)
    3. unpack:  p_i.grad = buffer[offset_i : offset_i + size_i] reshaped (a view: no copy)

    buffer: (P,) the parameters' dtype and device, P = the number of weights.

Why one buffer: every all-reduce pays a fixed start-up cost (latency, alpha
in tutorial 14's cost model alpha + beta n) besides the cost of its bytes.
One all-reduce of P values pays alpha once; one per parameter tensor pays
it 10 times for keras_mnist_cnn and 16 for ZFNet. ``bucket_values`` splits
the buffer into pieces of at most that many values, for measuring the
difference (benchmarks/distributed.py does); frameworks that overlap the
sums with the backward pass (PyTorch's DDP) use buckets so the first can
start before backward ends. minicnn does not overlap, so one buffer is its
default.

Every rank then applies the same update to the same weights, so the ranks
stay identical without ever sending weights again. The one exception is the
start: ``broadcast_parameters`` copies rank 0's initial weights to all.
"""

import hashlib

import numpy

from ..engine.backend import get_array_module, to_numpy


def _check_parameters(parameters, what):
    if not parameters:
        raise ValueError(f"{what}: no parameters")
    dtypes = {str(p.data.dtype) for p in parameters}
    if len(dtypes) != 1:
        raise ValueError(f"{what}: the parameters mix dtypes {sorted(dtypes)}; one flat buffer holds one "
                         "dtype: cast the model with model.to('float32') (or 'float64')")


def pack(arrays, buffer, weight=1.0):
    """Copy ``arrays`` into consecutive slices of the flat ``buffer``, times ``weight``; None -> zeros."""
    xp = get_array_module(buffer)
    offset = 0
    for array, size in arrays:
        piece = buffer[offset:offset + size]
        if array is None:
            piece[...] = 0
        elif weight == 1.0:
            piece[...] = array.reshape(-1)
        else:
            xp.multiply(array.reshape(-1), weight, out=piece)
        offset += size
    return buffer


class GradientAllReduce:
    """Sum the gradients of ``parameters`` over the ranks of ``communicator``, in one all-reduce.

    parameters:    a list of Parameters (model.parameters()), all of one dtype
    communicator:  a Communicator (communicator.py); with one rank nothing is done
    bucket_values: None (one all-reduce of the whole buffer) or the most values
                   per all-reduce (for measuring buckets against one buffer)

    ``allreduce(weight)`` leaves in every p.grad the sum over ranks r of
    weight_r * p.grad_r. A parameter without a gradient on a rank counts as zeros.
    """

    def __init__(self, parameters, communicator, bucket_values=None):
        self.parameters = list(parameters)
        _check_parameters(self.parameters, "GradientAllReduce")
        self.communicator = communicator
        self.bucket_values = bucket_values
        self.sizes = [p.data.size for p in self.parameters]
        self.total = sum(self.sizes)
        self.buffer = None
        self.calls = 0                 # all-reduces issued so far (the benchmark counts them)

    def _flat_buffer(self):
        """The (P,) buffer, made on first use on the parameters' device and dtype (kept after)."""
        first = self.parameters[0].data
        if self.buffer is None or self.buffer.dtype != first.dtype or type(self.buffer) is not type(first):
            self.buffer = get_array_module(first).empty(self.total, dtype=first.dtype)
        return self.buffer

    def buckets(self):
        """The slices of the buffer summed one all-reduce each: [0:P] unless bucket_values is set."""
        step = self.total if self.bucket_values is None else self.bucket_values
        return [slice(start, min(start + step, self.total)) for start in range(0, self.total, step)]

    def allreduce(self, weight=1.0):
        """p.grad <- sum over ranks of weight * p.grad, for every parameter; returns the flat buffer.

        weight: this rank's share of the batch, b_r / B (sharding.py), so
        that the sum is the gradient of the whole batch's mean loss.
        """
        if self.communicator.size == 1 and weight == 1.0:
            return None                # the sum over one rank is its own gradient
        buffer = self._flat_buffer()
        pack([(p.grad, size) for p, size in zip(self.parameters, self.sizes)], buffer, weight)
        for bucket in self.buckets():
            self.communicator.allreduce_sum(buffer[bucket])
            self.calls += 1
        offset = 0
        for parameter, size in zip(self.parameters, self.sizes):
            parameter.grad = buffer[offset:offset + size].reshape(parameter.shape)
            offset += size
        return buffer


def broadcast_parameters(parameters, communicator, root=0):
    """Overwrite every rank's weights with rank ``root``'s (one broadcast of one flat buffer).

    Called once before training: ranks that built their models with
    different random numbers (or read different files) then start alike.
    """
    parameters = list(parameters)
    _check_parameters(parameters, "broadcast_parameters")
    if communicator.size == 1:
        return
    first = parameters[0].data
    buffer = get_array_module(first).empty(sum(p.data.size for p in parameters), dtype=first.dtype)
    pack([(p.data, p.data.size) for p in parameters], buffer)
    communicator.broadcast(buffer, root)
    offset = 0
    for parameter in parameters:
        parameter.data[...] = buffer[offset:offset + parameter.data.size].reshape(parameter.shape)
        offset += parameter.data.size


def parameters_digest(parameters):
    """A SHA-256 of every weight's bytes: equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for parameter in parameters:
        digest.update(numpy.ascontiguousarray(to_numpy(parameter.data)).tobytes())
    return digest.hexdigest()


def check_ranks_agree(parameters, communicator):
    """Raise a RuntimeError unless every rank holds bit-identical weights (an allgather of digests).

    Every rank applies the same update to the same weights, so they never
    differ, unless a rank skipped a step or an MPI library summed in a
    different order on different ranks. Cheap enough to call once per epoch.
    """
    digests = communicator.allgather(parameters_digest(parameters))
    differing = [rank for rank, digest in enumerate(digests) if digest != digests[0]]
    if differing:
        raise RuntimeError(f"the weights of rank(s) {differing} differ from rank 0's: "
                           "the ranks no longer train the same model")
    return digests[0]
