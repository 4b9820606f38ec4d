"""The full-size ImageNet networks, input (N, 3, 224, 224): shapes and sizes to study.

    alexnet  Krizhevsky et al. 2012, 60,965,224 parameters, its two-GPU grouped layers
             (docs/sources.md sections 2 and 4); alexnet(groups=1): the dense form
    zfnet    Zeiler & Fergus 2014, section 3 / figure 3 (docs/sources.md section 4)
    vgg16    Simonyan & Zisserman 2015, configuration D, 138,357,544 parameters

No ImageNet data or pretrained weights are available offline (docs/sources.md
section 5): these are built for ``summary()``, parameter counts and GPU
benchmarks. Output sizes use out = (N - F + 2P)/S + 1, floored unless the
pool says ceil_mode (see minicnn/engine/shapes.py). A grouped convolution
(groups=G) has G times fewer weights: F * (C/G * KH * KW) + F parameters.
"""

from ..engine import nn
from .init import normal_init


def _classifier(in_features, num_classes, dropout):
    """Layers 6-8 of AlexNet and ZFNet: two 4096-unit layers with dropout, then the scores."""
    return [
        nn.Flatten(),
        nn.Linear(in_features, 4096), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(4096, num_classes),
    ]


def alexnet(num_classes=1000, dropout=0.5, groups=2):
    """AlexNet as Krizhevsky et al. (2012) built it: 60,965,224 parameters for 1000 classes.

    (3, 224, 224) -> conv 96 11x11/4 pad 2 + ReLU -> (96, 55, 55)   (224 - 11 + 4)/4 + 1 = 55.25
                  -> LRN 5 -> max pool 3/2        -> (96, 27, 27)
                  -> conv 256 5x5 pad 2, groups 2 + ReLU  -> (256, 27, 27)
                  -> LRN 5 -> max pool 3/2        -> (256, 13, 13)
                  -> conv 384 3x3 pad 1 + ReLU    -> (384, 13, 13)   (dense: both halves)
                  -> conv 384 3x3 pad 1, groups 2 + ReLU  -> (384, 13, 13)
                  -> conv 256 3x3 pad 1, groups 2 + ReLU  -> (256, 13, 13)
                  -> max pool 3/2                 -> (256, 6, 6)
                  -> 9216 -> 4096 -> 4096 -> num_classes, dropout 0.5 in layers 6 and 7

    The network was split over two GPUs (AlexNet section 3.2, figure 2):
    each held half of every layer's filters, and in layers 2, 4 and 5 a
    filter saw only the maps of its own GPU, so those are grouped
    convolutions with groups=2 (48 of the 96 maps for a layer-2 filter,
    192 of the 384 for layers 4 and 5); layer 3 and the dense layers 6-8
    read both GPUs' maps. Parameters, layer by layer (F * (C/G * K*K + 1)):

        conv 1   96 * (3*11*11 + 1)   =    34,944
        conv 2  256 * (48*5*5 + 1)    =   307,456   (dense: 614,656)
        conv 3  384 * (256*3*3 + 1)   =   885,120
        conv 4  384 * (192*3*3 + 1)   =   663,936   (dense: 1,327,488)
        conv 5  256 * (192*3*3 + 1)   =   442,624   (dense: 884,992)
        dense 6-8: 37,752,832 + 16,781,312 + 4,097,000
        total 60,965,224   (the paper: "60 million parameters")

    groups=1: the dense one-GPU form (62,378,344 parameters), every layer
    seeing all maps, as ZFNet's layers 3-5 do; its layers 2, 4 and 5 have
    twice the weights and multiply-adds. The paper fed 227x227 crops
    (written 224); padding 2 on 224 gives the same 55x55. LRN (size 5,
    alpha 1e-4, beta 0.75, k 2) comes before pooling, as in AlexNet
    sections 3.3-3.4.
    """
    if groups not in (1, 2):
        raise ValueError(f"alexnet: groups must be 2 (the paper's two GPUs) or 1 (dense), got {groups!r}")
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, padding=2), nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(96, 256, 5, padding=2, groups=groups), nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=groups), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=groups), nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        *_classifier(256 * 6 * 6, num_classes, dropout),
    )


def zfnet(num_classes=1000, dropout=0.5, init="zfnet"):
    """ZFNet (Zeiler & Fergus 2014, figure 3), 62,357,608 parameters for 1000 classes.

    Dense, as the paper says: it trained on one GPU, and its layers 3, 4 and
    5 are "densely connected", unlike AlexNet's split layers (so no groups
    here; see ``alexnet``).

    Sizes as the paper's figure 3 prints them:

    (3, 224, 224) -> conv 96 7x7/2 pad 1 + ReLU  -> (96, 110, 110)  (224 - 7 + 2)/2 + 1 = 110.5
                  -> max pool 3/2, ceil_mode     -> (96, 55, 55)    ceil((110 - 3)/2) + 1 = 55
                  -> LRN 5
                  -> conv 256 5x5/2 + ReLU       -> (256, 26, 26)   (55 - 5)/2 + 1 = 26
                  -> max pool 3/2, ceil_mode     -> (256, 13, 13)   ceil((26 - 3)/2) + 1 = 13
                  -> LRN 5
                  -> conv 384 3x3 pad 1 + ReLU   -> (384, 13, 13)
                  -> conv 384 3x3 pad 1 + ReLU   -> (384, 13, 13)
                  -> conv 256 3x3 pad 1 + ReLU   -> (256, 13, 13)
                  -> max pool 3/2, ceil_mode     -> (256, 6, 6)     ceil((13 - 3)/2) + 1 = 6
                  -> 9216 -> 4096 -> 4096 -> num_classes, dropout 0.5 in layers 6 and 7

    The paper gives no padding. Without any, 7x7/2 on 224 gives 109 and the
    pool 54, not the figure's 110 and 55; padding 1 on conv 1 and Caffe's
    rounding-up pools (ceil_mode=True) reproduce every size in the figure
    (floor pools would give 54 after layer 1 and 12 after layer 2).
    init="zfnet": weights N(0, 0.01^2), biases 0 (section 3; see normal_init);
    init="he": the layers' own He initialisation.
    """
    if init not in ("zfnet", "he"):
        raise ValueError(f"zfnet: unknown init {init!r}; choose 'zfnet' or 'he'")
    model = nn.Sequential(
        nn.Conv2d(3, 96, 7, stride=2, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.LocalResponseNorm(5),
        nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.LocalResponseNorm(5),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, ceil_mode=True),
        *_classifier(256 * 6 * 6, num_classes, dropout),
    )
    return normal_init(model, 0.01) if init == "zfnet" else model


def vgg16(num_classes=1000, dropout=0.5):
    """VGG16, configuration D (138,357,544 parameters for 1000 classes).

    Thirteen 3x3 stride-1 pad-1 convolutions (size kept: (N - 3 + 2)/1 + 1 = N)
    in five blocks, each closed by a 2x2/2 max pool that halves the size:
    224 -> 112 -> 56 -> 28 -> 14 -> 7. Filters double per block, 64 to 512.
    Then 7*7*512 = 25088 -> 4096 -> 4096 -> num_classes with dropout 0.5.
    """
    layers, channels = [], 3
    for width, repeats in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(repeats):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, *_classifier(512 * 7 * 7, num_classes, dropout))
