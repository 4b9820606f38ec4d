"""Softmax, log-softmax and cross-entropy, computed stably.

logits z: (N, K). With m = max_k z[k] (subtracted so exp never overflows):

    log_softmax(z)[k] = z[k] - m - log sum_j exp(z[j] - m)      (log-sum-exp)
    softmax(z)        = exp(log_softmax(z))
    cross_entropy     = mean over n of -log_softmax(z[n])[target[n]]

Gradient of the mean cross-entropy: (softmax(z) - onehot(target)) / N.

An empty batch (N = 0): log_softmax and softmax give (0, K) results, as
PyTorch does. The mean cross-entropy of no images is undefined; PyTorch
returns nan for it (the mean of nothing), which would then poison every
weight it reaches. minicnn refuses it with a ShapeError instead.
"""

import numpy

from ..backend import get_array_module
from ..shapes import ShapeError
from ..tensor import Function, as_tensor
from .checks import check_input


def _log_softmax(z):
    xp = get_array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


class LogSoftmaxFunction(Function):
    name = "log_softmax"

    def forward(self, z):
        self.log_probs = _log_softmax(z)
        return self.log_probs

    def backward(self, grad_output):
        # d log_softmax[i] / dz[j] = delta_ij - softmax[j]
        probs = get_array_module(grad_output).exp(self.log_probs)
        return grad_output - probs * grad_output.sum(axis=1, keepdims=True)


def check_logits(caller, z):
    """z must be a finite float (N, K) array with K >= 1 classes."""
    check_input(caller, z, 2, "(N, classes)")
    if z.shape[1] == 0:
        raise ShapeError(f"{caller}: logits of shape {z.shape} hold 0 classes; needs (N, K) with K >= 1")


def log_softmax(z, caller="log_softmax"):
    """log of the softmax over axis 1. z: (N, K) -> (N, K)."""
    z = as_tensor(z)
    check_logits(caller, z)
    return LogSoftmaxFunction()(z)


def softmax(z, caller="softmax"):
    """Class probabilities over axis 1. z: (N, K) -> (N, K), rows sum to 1."""
    return log_softmax(z, caller).exp()


class CrossEntropyFunction(Function):
    name = "cross_entropy"

    def __init__(self, target):
        self.target = target

    def forward(self, z):
        xp = get_array_module(z)
        self.log_probs = _log_softmax(z)
        picked = self.log_probs[xp.arange(z.shape[0]), self.target]
        return -picked.mean()

    def backward(self, grad_output):
        xp = get_array_module(self.log_probs)
        n = self.log_probs.shape[0]
        grad = xp.exp(self.log_probs)
        grad[xp.arange(n), self.target] -= 1.0
        return grad * (grad_output / n)


def cross_entropy(logits, target, caller="cross_entropy"):
    """Mean negative log-likelihood of the integer labels.

    logits: (N, K) raw class scores (not probabilities); target: (N,) ints in
    0..K-1. Returns a scalar tensor. Finite for logits of any size.
    """
    logits = as_tensor(logits)
    check_logits(caller, logits)
    target = target.data if hasattr(target, "creator") else target
    target = get_array_module(logits.data).asarray(target)   # on the logits' device
    if not numpy.issubdtype(target.dtype, numpy.integer):
        raise TypeError(f"{caller}: target must hold integer class labels, got dtype {target.dtype}")
    n, classes = logits.shape
    if n == 0:
        raise ShapeError(
            f"{caller}: the batch is empty (logits of shape {logits.shape}); the mean loss of "
            "no images is undefined (PyTorch returns nan for it); give at least one image"
        )
    if target.shape != (n,):
        raise ShapeError(f"{caller}: target must have shape ({n},) to match logits {logits.shape}, got {target.shape}")
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"{caller}: label {bad} is outside 0..{classes - 1}; the logits {logits.shape} "
            f"have {classes} classes"
        )
    return CrossEntropyFunction(target.astype(numpy.int64))(logits)
