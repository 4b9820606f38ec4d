"""Tried and not kept (2026-12-07): SGD's update of one parameter in one compiled pass.

It was written as a kernel of minicnn/engine/kernels/ (sgd.py, a twin in KERNELS, tested bit
for bit against its reference with every pair of special values) and measured with sgd_ab.py:
about 1-2% for zfnet_small at batch 1 and 32, nothing for keras-MNIST at 32 or 128
(sgd-ab.txt). Kept here, outside the
engine, with the A/B that measured it. ``step(optimizer)`` is SGD.step through it.

As it stood in the engine:

SGD's update of one parameter: weight decay, momentum and the step, in place.

In this file: the plain-array reference ``sgd_update`` (read this one to
learn; optim.py explains the formulas and where they come from), then its
Numba twin ``sgd_update_numba``. There is no CUDA twin: on the GPU the
reference runs on CuPy. What the twins share is explained in
kernels/compiled.py; which of them run, and when, in kernels/__init__.py.

Why a twin for three lines of NumPy: with momentum the reference makes four
passes over memory per parameter (v *= m, v += g, lr * v into a new array,
p -= that array), and with weight decay two more; the loop makes one,
reading p, g and v once and writing p and v once. It computes the same
operations in the same order, in the parameter's dtype, without fused
multiply-adds, so it gives the reference's numbers bit for bit (signed
zeros, infinities and NaN included).
"""

import numpy

from minicnn.engine.kernels.compiled import numba_loop, share_out, unsigned


# ==========================================================================
# Reference (NumPy or CuPy)
# ==========================================================================

def sgd_update(parameter, grad, velocity, lr, momentum, weight_decay):
    """One SGD step for one parameter, PyTorch's formulation (optim.py):

        g = grad + weight_decay * parameter      (only where weight_decay is not 0)
        v = momentum * v + g                     (v = g on the first step; no v where momentum is 0)
        parameter -= lr * v                      (lr * g without momentum)

    parameter: any shape, updated in place; grad: its shape; velocity: its
    shape (updated in place), or None before the first step; lr, momentum,
    weight_decay: Python numbers (cast to the parameter's dtype, as NumPy
    casts a Python number). Returns the velocity after the step: the array
    passed, a new one on the first step (none is made where momentum is 0).
    """
    if weight_decay:
        grad = grad + weight_decay * parameter
    if momentum:
        if velocity is None:
            velocity = grad.copy()
        else:
            velocity *= momentum
            velocity += grad
        grad = velocity
    parameter -= lr * grad
    return velocity


# ==========================================================================
# Numba twin (CPU): one pass over the parameter
# ==========================================================================

@numba_loop
def _sgd_loops(parameter, grad, velocity, lr, momentum, weight_decay, decay, first_step, first, last):
    """parameter, grad, velocity: flat, one dtype; parameter and velocity written in place.

    lr, momentum, weight_decay: numbers of that dtype (so every product rounds
    to it, as NumPy's does). decay: whether weight_decay is not 0 (the
    reference then skips the term: 0 * an infinite weight would be NaN).
    momentum 0 leaves velocity alone (pass any array of the dtype).
    first_step: v = g, not momentum * v + g.
    """
    for k in range(unsigned(first), unsigned(last)):   # of parameter.size: this thread's share (unsigned: see compiled.py)
        g = grad[k]
        if decay:
            g = g + weight_decay * parameter[k]
        if momentum != 0:
            if not first_step:
                g = velocity[k] * momentum + g                # v *= m, then v += g: the same two roundings
            velocity[k] = g
        parameter[k] = parameter[k] - lr * g


def sgd_update_numba(parameter, grad, velocity, lr, momentum, weight_decay):
    """Numba twin of ``sgd_update``, equal to it bit for bit; the same arguments and result.

    One pass where the parameter, its gradient and its velocity are C-contiguous
    arrays of one dtype, float32 or float64 (what training makes); anything else (a transposed
    parameter, a float64 gradient for a float32 parameter) runs the reference.
    """
    arrays = (parameter, grad) if velocity is None else (parameter, grad, velocity)
    if not (parameter.dtype.kind == "f" and parameter.dtype.itemsize >= 4 and all(array.dtype == parameter.dtype and array.shape == parameter.shape
                                                and array.flags.c_contiguous for array in arrays)):
        return sgd_update(parameter, grad, velocity, lr, momentum, weight_decay)
    first_step = bool(momentum) and velocity is None
    if first_step:
        velocity = numpy.empty_like(parameter)
    number = parameter.dtype.type
    share_out(_sgd_loops, parameter.size, parameter.reshape(-1), grad.reshape(-1),
              (parameter if velocity is None else velocity).reshape(-1), number(lr), number(momentum),
              number(weight_decay), bool(weight_decay), first_step)
    return velocity


def step(optimizer):
    """optimizer.step() (minicnn.optim.SGD) with every parameter updated by sgd_update_numba."""
    for index, parameter in enumerate(optimizer.params):
        if parameter.grad is not None:
            optimizer.velocity[index] = sgd_update_numba(parameter.data, parameter.grad, optimizer.velocity[index],
                                                         optimizer.lr, optimizer.momentum, optimizer.weight_decay)
