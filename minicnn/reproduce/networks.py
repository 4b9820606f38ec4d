"""The networks the claims train, and where ZFNet's layers 1 to 7 are in them.

Every network is ``zfnet_small`` (minicnn/models/small.py, ZFNet's layout at
28x28) or a variant of it, described by a small JSON dict so that a run's
folder can say what it holds and rebuild it:

    {"width": 2}                                   zfnet_small itself
    {"width": 2, "remove": [16, 17, 18, 19, 20, 21]}   layers left out (Tables 2-3)
    {"width": 2, "first_layer": [9, 2, 4]}         the first convolution's kernel, stride, padding (Fig. 6)

zfnet_small's layers, by index (width 2; width w has w/2 times the channels):

     0 conv 32 5x5/1   1 ReLU   2 max pool 3/2   3 LRN          ZFNet layer 1
     4 conv 64 3x3     5 ReLU   6 max pool 3/2   7 LRN          ZFNet layer 2
     8 conv 96 3x3     9 ReLU                                   ZFNet layer 3
    10 conv 96 3x3    11 ReLU                                   ZFNet layer 4
    12 conv 64 3x3    13 ReLU  14 max pool 3/2                  ZFNet layer 5
    15 flatten        16 dense 256  17 ReLU  18 dropout         ZFNet layer 6
                      19 dense 256  20 ReLU  21 dropout         ZFNet layer 7
                      22 dense 10 (the class scores)            ZFNet layer 8

A variant is built by ``rebuild`` (minicnn/visualize/ablation_table.py),
which re-derives every shape after the change; its scores layer then starts
from N(0, 0.01^2) as zfnet_small's does, so that the variants differ from
the full model only in their layers.
"""

from .. import models
from ..engine import nn
from ..models import normal_init
from ..visualize import rebuild

INPUT_SHAPE = (1, 28, 28)

# ZFNet's layers 1-7 in zfnet_small: the index whose output is that layer's output
# (after its pooling and normalization; for 6 and 7 after the ReLU: dropout is off at test time)
LAYER_OUTPUTS = {1: 3, 2: 7, 3: 9, 4: 11, 5: 14, 6: 17, 7: 20}
# The ReLU after each convolution (before pooling): where maps keep their resolution
CONV_RELUS = {1: 1, 2: 5, 3: 9, 4: 11, 5: 13}

# Tables 2-3: what each ablation variant leaves out (indices above)
FC_LAYERS = [16, 17, 18, 19, 20, 21]                 # layers 6 and 7
MIDDLE_CONVS = [8, 9, 10, 11]                       # layers 3 and 4
ABLATIONS = {
    "full": [],
    "no_fc": FC_LAYERS,
    "no_mid_conv": MIDDLE_CONVS,
    "no_fc_no_mid_conv": MIDDLE_CONVS + FC_LAYERS,
    "layer1_only": [4, 5, 6, 7, 8, 9, 10, 11, 12, 13],   # layers 2-5; the last pool and 6-7 stay
}
ABLATION_NAMES = {
    "full": "full model", "no_fc": "layers 6, 7 removed", "no_mid_conv": "layers 3, 4 removed",
    "no_fc_no_mid_conv": "layers 3, 4, 6, 7 removed", "layer1_only": "layers 2-5 removed",
}

# Fig. 6 at 28x28. ZFNet's 7x7/2 against AlexNet's 11x11/4 is a stride twice as large and a
# window 11/7 as wide. zfnet_small's own first layer (5x5, stride 1, 28x28 out) plays ZFNet's;
# AlexNet's is then 9x9 (5 x 11/7 = 7.9, rounded to the odd 9), stride 2, padding 4:
# (28 - 9 + 8)/2 + 1 = 14, half the resolution, as AlexNet's 55x55 is half of ZFNet's 110x110.
FIRST_LAYERS = {"small": [5, 1, 2], "large": [9, 2, 4]}


def describe(width, remove=(), first_layer=None):
    """The JSON description of a network (module docstring)."""
    description = {"width": int(width)}
    if remove:
        description["remove"] = sorted(int(index) for index in remove)
    if first_layer is not None and list(first_layer) != FIRST_LAYERS["small"]:
        description["first_layer"] = [int(value) for value in first_layer]
    return description


def build(description, num_classes):
    """A freshly initialized network from its description (the caller seeds minicnn's generator)."""
    model = models.get_model("zfnet_small", num_classes=num_classes, width=description["width"])
    remove, first_layer = description.get("remove", []), description.get("first_layer")
    if not remove and first_layer is None:
        return model
    layers = list(model)
    if first_layer is not None:
        kernel, stride, padding = first_layer
        old = layers[0]
        layers[0] = nn.Conv2d(old.in_channels, old.out_channels, kernel, stride, padding)
    variant = rebuild(nn.Sequential(*layers), INPUT_SHAPE, remove=remove)
    normal_init(variant[len(variant) - 1], std=0.01)
    return variant


def layer_outputs(description):
    """{ZFNet layer: index of its output} in the network ``description`` builds (removed layers left out)."""
    return _renumbered(LAYER_OUTPUTS, description)


def conv_relus(description):
    """{ZFNet layer: index of the ReLU after its convolution}, removed layers left out."""
    return _renumbered(CONV_RELUS, description)


def _renumbered(table, description):
    removed = set(description.get("remove", []))
    return {layer: index - sum(1 for r in removed if r < index)
            for layer, index in table.items() if index not in removed}
