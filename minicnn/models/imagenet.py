"""The full-size ImageNet networks, input (N, 3, 224, 224): shapes and sizes to study.

    alexnet  Krizhevsky et al. 2012, about 62M parameters (docs/sources.md section 2)
    zfnet    Zeiler & Fergus 2014, section 3 / figure 3 (docs/sources.md section 4)
    vgg16    Simonyan & Zisserman 2015, configuration D, 138,357,544 parameters

No ImageNet data or pretrained weights are available offline (docs/sources.md
section 5): these are built for ``summary()``, parameter counts and GPU
benchmarks. Output sizes use out = (N - F + 2P)/S + 1, floored unless the
pool says ceil_mode (see minicnn/engine/shapes.py).
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


def alexnet(num_classes=1000, dropout=0.5):
    """AlexNet, one-GPU form (62,378,344 parameters for 1000 classes).

    (3, 224, 224) -> conv 96 11x11/4 pad 2 + ReLU -> (96, 55, 55)   (224 - 11 + 4)/4 + 1 = 55.25
                  -> LRN 5 -> max pool 3/2        -> (96, 27, 27)
                  -> conv 256 5x5 pad 2 + ReLU    -> (256, 27, 27)
                  -> LRN 5 -> max pool 3/2        -> (256, 13, 13)
                  -> conv 384, 384, 256 3x3 pad 1 + ReLU -> (256, 13, 13)
                  -> max pool 3/2                 -> (256, 6, 6)
                  -> 9216 -> 4096 -> 4096 -> num_classes, dropout 0.5 in layers 6 and 7
    The paper fed 227x227 crops (written 224); padding 2 on 224 gives the
    same 55x55. Its layers 2, 4 and 5 were split over two GPUs (grouped
    convolutions); here every layer is dense, as in ZFNet, which makes
    62.4M parameters instead of 61M. LRN (size 5, alpha 1e-4, beta 0.75,
    k 2) comes before pooling, as in AlexNet section 3.3-3.4.
    """
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, padding=2), nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        *_classifier(256 * 6 * 6, num_classes, dropout),
    )


def zfnet(num_classes=1000, dropout=0.5, init="zfnet"):
    """ZFNet (Zeiler & Fergus 2014, figure 3), 62,357,608 parameters for 1000 classes.

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
