"""Stochastic gradient descent with momentum, and ZFNet's filter renormalization.

SGD, PyTorch's formulation (so results match it step for step), for each
parameter p with gradient g:

    g = g + weight_decay * p           (L2 penalty)
    v = momentum * v + g               (velocity; v = g on the first step)
    p = p - lr * v

ZFNet trained with lr 0.01, momentum 0.9, batch 128 (docs/sources.md section 4).
"""

import numpy

from .backend import get_array_module, to_device, to_numpy


class SGD:
    """SGD over ``params`` (a list of Parameters, e.g. model.parameters()).

    filter_radius: if set, after every step each conv filter whose RMS
    exceeds it is rescaled to it (ZFNet's renormalization, radius 0.1).
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, filter_radius=None):
        if lr <= 0:
            raise ValueError(f"SGD: lr must be positive, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.filter_radius = filter_radius
        self.velocity = [None] * len(self.params)

    def zero_grad(self):
        for parameter in self.params:
            parameter.grad = None

    def step(self):
        for index, parameter in enumerate(self.params):
            if parameter.grad is None:
                continue
            grad = parameter.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * parameter.data
            if self.momentum:
                if self.velocity[index] is None:
                    self.velocity[index] = grad.copy()
                else:
                    self.velocity[index] *= self.momentum
                    self.velocity[index] += grad
                grad = self.velocity[index]
            parameter.data -= self.lr * grad
        if self.filter_radius is not None:
            renormalize_filters(self.params, self.filter_radius)

    def state_dict(self):
        """Settings and velocities (NumPy arrays, or None before the first step)."""
        return {
            "lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
            "filter_radius": self.filter_radius,
            "velocity": [None if v is None else to_numpy(v).copy() for v in self.velocity],
        }

    def load_state_dict(self, state):
        self.lr, self.momentum = state["lr"], state["momentum"]
        self.weight_decay, self.filter_radius = state["weight_decay"], state["filter_radius"]
        if len(state["velocity"]) != len(self.params):
            raise ValueError(
                f"SGD.load_state_dict: {len(state['velocity'])} velocities for {len(self.params)} parameters"
            )
        self.velocity = [
            None if v is None else to_device(numpy.asarray(v, dtype=p.dtype), p.device)
            for v, p in zip(state["velocity"], self.params)
        ]


def renormalize_filters(params, radius=0.1):
    """Rescale every conv filter whose RMS value exceeds ``radius`` to that radius.

    params: a Module or a list of Parameters; only 4-D weights (F, C, KH, KW)
    are conv filters. RMS of filter f = sqrt(mean(w[f]^2)). ZFNet section 3
    used a radius of 0.1 so that no first-layer filter dominates.
    Returns how many filters were rescaled.
    """
    if hasattr(params, "parameters"):
        params = params.parameters()
    rescaled = 0
    for parameter in params:
        if parameter.ndim != 4:
            continue
        xp = get_array_module(parameter.data)
        rms = xp.sqrt((parameter.data ** 2).mean(axis=(1, 2, 3), keepdims=True))
        too_big = rms > radius
        factor = xp.where(too_big, radius / xp.maximum(rms, 1e-12), 1.0).astype(parameter.dtype)
        parameter.data *= factor
        rescaled += int(too_big.sum())
    return rescaled
