"""Re-initialising a model's weights (the layers draw He-initialised weights themselves)."""

from ..engine import rng
from ..engine.backend import to_device


def normal_init(model, std=0.01):
    """Re-draw every weight from N(0, std^2) and zero every bias; returns the model.

    ZFNet section 3: "weights initialized to 10^-2 and biases to 0", read as
    AlexNet's zero-mean Gaussian with standard deviation 0.01 (a constant
    0.01 would make every filter of a layer the same, and they would stay
    the same).
    """
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):
            parameter.data[...] = 0
        else:
            data = rng.normal_array(parameter.shape, std, parameter.dtype)
            parameter.data = to_device(data, parameter.device)
    return model
