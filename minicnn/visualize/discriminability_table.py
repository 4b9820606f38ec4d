"""Feature discriminability (ZFNet section 5.3, Table 7): a softmax on frozen features.

Keep the trained network fixed, take the output of layer k as a feature
vector, and train only a softmax classifier on it; repeat for each k. ZFNet
found the accuracy rises with depth (Caltech-101: layer 5 82.9%, layer 7
85.4%): higher layers hold more of what tells the classes apart.

The classifier is softmax regression built from the engine's own pieces:

    z = F.linear(standardized features, W, b)         W: (K, D), b: (K,)
    loss = F.cross_entropy(z, labels)                  minimized by optim.SGD

Features are standardized with the training set's per-feature mean and
standard deviation, so one learning rate suits every layer.
"""

from dataclasses import dataclass

import numpy

from ..engine import functional as F
from ..engine import optim
from ..engine.backend import get_array_module, to_numpy
from ..engine.nn import Parameter
from ..engine.tensor import Tensor, no_grad
from .figures import new_figure, save
from .probe import as_batch, batched_collect, check_sequential, evaluation, layer_index


def extract_features(model, images, layer, batch_size=128):
    """The output of ``model[layer]`` for each image, flattened: (N, D) array."""
    check_sequential(model, "extract_features")
    layer = layer_index(model, layer, "extract_features")
    images = as_batch(images, "extract_features")
    with evaluation(model):
        features = batched_collect(model, images, [layer], batch_size)[layer]
    return features.reshape(len(images), -1)


@dataclass
class SoftmaxClassifier:
    """Softmax regression on standardized features.

    weight: (K, D); bias: (K,); mean, std: (D,) training-set statistics.
    """

    weight: object
    bias: object
    mean: object
    std: object

    def logits(self, features):
        """features (N, D) -> class scores (N, K)."""
        return ((features - self.mean) / self.std) @ self.weight.T + self.bias

    def accuracy(self, features, labels):
        """Fraction of rows whose highest score is their label."""
        predicted = to_numpy(self.logits(features).argmax(axis=1))
        return float((predicted == numpy.asarray(to_numpy(labels))).mean())


def train_softmax(features, labels, classes, epochs=30, lr=0.1, batch_size=128, momentum=0.9,
                  weight_decay=1e-4, seed=0):
    """Fit softmax regression to (features (N, D), labels (N,)) by SGD. Returns SoftmaxClassifier."""
    xp = get_array_module(features)
    features = features.astype(xp.float64 if features.dtype == xp.float64 else xp.float32)
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    standardized = (features - mean) / std
    labels = xp.asarray(labels).astype(xp.int64)
    weight = Parameter(xp.zeros((classes, features.shape[1]), dtype=features.dtype))
    bias = Parameter(xp.zeros((classes,), dtype=features.dtype))
    optimizer = optim.SGD([weight, bias], lr=lr, momentum=momentum, weight_decay=weight_decay)
    rng = numpy.random.default_rng(seed)
    count = len(features)
    for _ in range(epochs):
        order = xp.asarray(rng.permutation(count))
        for start in range(0, count, batch_size):
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(F.linear(Tensor(standardized[batch]), weight, bias), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with no_grad():
        return SoftmaxClassifier(weight.data, bias.data, mean, std)


def discriminability(model, train_images, train_labels, test_images, test_labels, layers,
                     classes=None, epochs=30, lr=0.1, batch_size=128, seed=0):
    """Test accuracy of a softmax trained on the frozen features of each layer.

    images: (N, C, H, W) prepared inputs; labels: (N,) ints; classes: the
    number of classes (default: largest label + 1). Returns {layer: accuracy}.
    """
    classes = classes or int(max(to_numpy(train_labels).max(), to_numpy(test_labels).max())) + 1
    result = {}
    for layer in layers:
        train_features = extract_features(model, train_images, layer, batch_size)
        test_features = extract_features(model, test_images, layer, batch_size)
        classifier = train_softmax(train_features, train_labels, classes, epochs, lr, batch_size, seed=seed)
        result[layer_index(model, layer, "discriminability")] = classifier.accuracy(test_features, test_labels)
    return result


def plot_discriminability(result, path, names=None, title=None):
    """Table 7 as a curve: softmax test accuracy on each layer's frozen features. Returns the PNG path.

    result: {layer: accuracy} from ``discriminability``; names: optional {layer: label}.
    """
    layers = sorted(result)
    figure = new_figure(1.5 + 0.8 * len(layers), 3)
    ax = figure.add_subplot(1, 1, 1)
    ax.plot(range(len(layers)), [result[layer] for layer in layers], marker="o")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([(names or {}).get(layer, f"layer {layer}") for layer in layers], fontsize=8)
    ax.set_ylabel("test accuracy", fontsize=8)
    ax.set_title(title or "Softmax on frozen features (ZFNet Table 7)", fontsize=9)
    return save(figure, path)
