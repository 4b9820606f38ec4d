"""Small networks for 28x28 grey images (MNIST, Fashion-MNIST): input (N, 1, 28, 28).

    keras_mnist_cnn  the Keras-style convnet of the lecture notes (docs/sources.md section 2)
    fc_baseline      the fully connected network it is compared with
    lenet5           LeNet-5 at 28x28, tanh and trainable subsampling (61,750 parameters)
    zfnet_small      ZFNet's shape (ZFNet section 3) scaled down to 28x28

Output sizes below use out = (N - F + 2P)/S + 1 (floored; see minicnn/engine/shapes.py).
"""

from ..engine import nn
from .init import normal_init


def keras_mnist_cnn(num_classes=10):
    """The lecture notes' Keras MNIST convnet, layer for layer (93,322 parameters).

    (1, 28, 28) -> conv 32 3x3 + ReLU -> (32, 26, 26), 320 params
                -> max pool 2x2       -> (32, 13, 13)
                -> conv 64 3x3 + ReLU -> (64, 11, 11), 18,496 params
                -> max pool 2x2       -> (64, 5, 5)     (11/2 floored)
                -> conv 64 3x3 + ReLU -> (64, 3, 3),   36,928 params
                -> flatten (576,) -> dense 64 + ReLU -> dense num_classes
    The softmax is not a layer: cross_entropy applies it to the logits.
    """
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 3 * 3, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def fc_baseline(num_classes=10, hidden=512):
    """The fully connected baseline: 784 -> 512 + ReLU -> num_classes (407,050 parameters).

    (1, 28, 28) -> flatten (784,) -> dense 512 + ReLU -> dense num_classes.
    This is the two-layer network of Chollet's "Deep Learning with Python"
    (chapter 2) that reaches 97.8% on MNIST, the figure the lecture notes'
    convnet is there to beat (docs/sources.md section 2). Flattening throws away
    which pixel is next to which; the convnets keep it.
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, hidden), nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


def lenet5(num_classes=10, modern=False):
    """LeNet-5 as LeCun et al. (1998) built it, on 28x28 inputs (61,750 parameters).

    (1, 28, 28) -> C1 conv 6 5x5 pad 2 + tanh     -> (6, 28, 28)   (28 - 5 + 4)/1 + 1 = 28
                -> S2 subsampling 2x2 + tanh      -> (6, 14, 14)   a weight and a bias per map
                -> C3 conv 16 5x5 + tanh          -> (16, 10, 10)
                -> S4 subsampling 2x2 + tanh      -> (16, 5, 5)
                -> flatten (400,) -> C5 dense 120 + tanh -> F6 dense 84 + tanh
                -> dense num_classes
    Parameters: 156 + 12 + 2,416 + 32 + 48,120 + 10,164 + 850 = 61,750 (num_classes=10).

    Squashing: tanh, as in the paper, which squashes every layer up to F6
    (section II.B). The lecture notes say "sigmoid", the paper's name for
    the whole S-shaped family; its choice is the scaled tanh
    1.7159 tanh(2a/3) (appendix A). tanh is centred on 0, so each layer
    passes on inputs centred on 0; the logistic sigmoid's outputs are all
    positive and its slope is at most 1/4, and in this network, with plain
    SGD at the default learning rate, it learns far more slowly.
    We use plain tanh: the constants 1.7159 and 2/3 only rescale the weights
    before and after each squashing (the same family of networks, started
    elsewhere), and were chosen for the paper's targets of +-1, which a
    softmax output does not have.
    Subsampling: trainable, as in the paper: nn.Subsampling takes each 2x2
    mean times a coefficient plus a bias, one pair per map, then tanh squashes.

    Departures from 1998, each to stay with layers minicnn has: C3 connects
    each of its 16 maps to all 6 maps of S2 (2,416 parameters; the paper
    wires each to 3, 4 or 6 of them by a table, 1,516); the output is a dense
    layer trained with softmax cross-entropy, not Euclidean RBF units with
    fixed codes (850 trainable parameters where the paper has none); the
    layers' He initialisation (nn/layers.py), not the paper's uniform
    +-2.4 / fan-in; 28x28 images padded by 2 instead of 32x32 ones (the same
    shapes from C1 on). So 61,750 parameters = the paper's 60,000 + 900 + 850
    (docs/sources.md section 2).

    modern=True: ReLU and 2x2 max pooling in the same shapes, no
    subsampling coefficients (61,706 parameters), the form most courses show.
    """
    if modern:
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.Subsampling(6), nn.Tanh(),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.Subsampling(16), nn.Tanh(),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Tanh(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, num_classes),
    )


def zfnet_small(num_classes=10, dropout=0.5, width=2):
    """ZFNet's layout (ZFNet section 3, docs/sources.md section 4) shrunk to 28x28x1 (429,194 parameters).

    Layers 1-2: conv, ReLU, 3x3 max pool stride 2, contrast normalization (LRN 5);
    layers 3-5: three 3x3 stride-1 convolutions, then a 3x3/2 max pool;
    layers 6-7: fully connected with dropout 0.5; layer 8: num_classes scores.
    With width=2 (the default; C = 16 * width filters in layer 1):

    (1, 28, 28) -> conv 32 5x5 pad 2 + ReLU -> (32, 28, 28)   (28 - 5 + 4)/1 + 1 = 28
                -> max pool 3/2, ceil_mode  -> (32, 14, 14)   ceil((28 - 3)/2) + 1 = 14
                -> LRN 5
                -> conv 64 3x3 pad 1 + ReLU -> (64, 14, 14)
                -> max pool 3/2, ceil_mode  -> (64, 7, 7)     ceil((14 - 3)/2) + 1 = 7
                -> LRN 5
                -> conv 96 3x3 pad 1 + ReLU -> (96, 7, 7)
                -> conv 96 3x3 pad 1 + ReLU -> (96, 7, 7)
                -> conv 64 3x3 pad 1 + ReLU -> (64, 7, 7)
                -> max pool 3/2             -> (64, 3, 3)     (7 - 3)/2 + 1 = 3
                -> flatten (576,) -> dense 256 + ReLU + dropout
                -> dense 256 + ReLU + dropout -> dense num_classes
    Scaled from ZFNet: the first layer keeps stride 1 and a 5x5 window (a
    28x28 image has no pixels to spare; 7x7/2 was chosen for 224x224), layer
    2 uses 3x3 windows, and every layer has ZFNet's filters divided by three
    to four (96, 256, 384, 384, 256 -> 32, 64, 96, 96, 64; 4096 -> 256).
    width=2 was chosen over width=1 (108,362 parameters) for its accuracy, at
    about four times the multiply-adds (every layer between the first and
    the last has twice the channels in and out; the zfnet_small GFLOP columns of
    benchmarks/results/cpu-2026-11-22/results.md, width 1, and
    cpu-2026-11-22-tuned/results.md, width 2, show it). What it reaches on
    the full Fashion-MNIST in 10 epochs (SGD 0.01, momentum 0.9, lr x0.1
    after epoch 6), and how long it takes, is in
    benchmarks/results/train_reference.md (python benchmarks/train_reference.py).
    The other layers keep He initialisation; the output layer starts small (below).
    """
    c1, c2, c3, c5, fc = 16 * width, 32 * width, 48 * width, 32 * width, 128 * width
    model = nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.LocalResponseNorm(5),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.LocalResponseNorm(5),
        nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c3, c3, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c3, c5, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Flatten(),
        nn.Linear(c5 * 3 * 3, fc), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(fc, fc), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(fc, num_classes),
    )
    # The scores layer starts from ZFNet's N(0, 0.01^2) instead of He's
    # N(0, 2/fan_in): with He's, the first scores spread over about +-7 and the
    # first loss was about 11 instead of ln 10 = 2.3, a shock training took an
    # epoch to recover from.
    normal_init(model[len(model) - 1], std=0.01)
    return model
