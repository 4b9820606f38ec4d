"""Stochastic gradient descent with momentum, and ZFNet's filter renormalization.

SGD, PyTorch's formulation (so results match it step for step), for each
parameter p with gradient g:

    g = g + weight_decay * p           (L2 penalty)
    v = momentum * v + g               (velocity; v = g on the first step)
    p = p - lr * v

ZFNet trained with lr 0.01, momentum 0.9, batch 128 (docs/sources.md section 4).
"""

import math
import numbers

import numpy

from .backend import get_array_module, to_device, to_numpy
from .tensor import Tensor


class SGD:
    """SGD over ``params`` (a list of Parameters, e.g. model.parameters()).

    lr > 0, momentum in [0, 1), weight_decay >= 0, all finite (check_settings).
    filter_radius: if set (> 0), after every step each conv filter whose RMS
    exceeds it is rescaled to it (ZFNet's renormalization, radius 0.1).
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, filter_radius=None):
        check_settings(lr, momentum, weight_decay, filter_radius)
        if hasattr(params, "parameters"):
            raise TypeError(f"SGD: got the {type(params).__name__} itself; pass its parameters: "
                            "SGD(model.parameters(), lr=...)")
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD: got no parameters to train; pass model.parameters()")
        for index, parameter in enumerate(self.params):
            if not isinstance(parameter, Tensor):
                raise TypeError(f"SGD: params[{index}] is a {type(parameter).__name__}, not a Parameter; "
                                "pass model.parameters(), not the model or its layers")
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
        """Settings and velocities from ``state_dict()``; each velocity must have its parameter's shape."""
        check_settings(state["lr"], state["momentum"], state["weight_decay"], state["filter_radius"])
        if len(state["velocity"]) != len(self.params):
            raise ValueError(
                f"SGD.load_state_dict: {len(state['velocity'])} velocities for {len(self.params)} parameters"
            )
        for index, (velocity, parameter) in enumerate(zip(state["velocity"], self.params)):
            if velocity is not None and tuple(numpy.shape(velocity)) != parameter.shape:
                raise ValueError(f"SGD.load_state_dict: velocity {index} has shape {tuple(numpy.shape(velocity))}, "
                                 f"but its parameter has shape {parameter.shape}")
        self.lr, self.momentum = state["lr"], state["momentum"]
        self.weight_decay, self.filter_radius = state["weight_decay"], state["filter_radius"]
        self.velocity = [
            None if v is None else to_device(numpy.asarray(v, dtype=p.dtype), p.device)
            for v, p in zip(state["velocity"], self.params)
        ]


def check_settings(lr, momentum=0.0, weight_decay=0.0, filter_radius=None):
    """A ValueError naming the first SGD setting outside its range.

    lr: a finite number > 0; momentum: in [0, 1) (at 1 or more the velocity
    never forgets and grows without bound); weight_decay: a finite number >= 0
    (a negative one pushes the weights away from 0); filter_radius: None or a
    finite number > 0. NaN fails every test, so it is refused too.
    """
    rules = (
        ("lr", lr, "a positive, finite learning rate", lambda value: 0 < value < math.inf),
        ("momentum", momentum, "in [0, 1)", lambda value: 0 <= value < 1),
        ("weight_decay", weight_decay, "a finite number, 0 or more", lambda value: 0 <= value < math.inf),
        ("filter_radius", filter_radius, "None or a positive, finite RMS", lambda value: 0 < value < math.inf),
    )
    for name, value, needed, fits in rules:
        if name == "filter_radius" and value is None:
            continue
        is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not is_number or not fits(value):
            raise ValueError(f"SGD: {name} must be {needed}; got {value!r}")


def renormalize_filters(params, radius=0.1):
    """Rescale every conv filter whose RMS value exceeds ``radius`` to that radius.

    params: a Module or a list of Parameters; only 4-D weights (F, C, KH, KW)
    are conv filters. RMS of filter f = sqrt(mean(w[f]^2)). ZFNet section 3
    used a radius of 0.1 so that no first-layer filter dominates.
    Returns how many filters were rescaled.
    """
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not 0 < radius < math.inf:
        raise ValueError(f"renormalize_filters: radius must be a positive, finite RMS; got {radius!r}")
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
