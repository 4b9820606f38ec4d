"""One step of mini-batch SGD: the heart of training, in a few lines.

    loss, correct = train_step(model, optimizer, images, labels)

``fit`` (loop.py) calls it once per batch and wraps everything else around
it: the order of the batches, the progress bar, the divergence checks and,
when several processes train together, the all-reduce of the gradients,
which it passes in as ``reduce_gradients``.
"""

from ..engine import functional as F
from ..engine.tensor import tensor


def train_step(model, optimizer, images, labels, reduce_gradients=None):
    """Forward, loss, backward, update; returns (loss, correct) of the batch.

    model:     a Module in train mode (dropout active); its output: (B, K) class scores
    optimizer: an optim.SGD over model.parameters()
    images:    (B, C, H, W) float array; labels: (B,) integer class indices
    reduce_gradients: None, or a function called between backward and step
               (data parallelism: the gradients summed over the ranks,
               minicnn/distributed/gradients.py)
    Returns the batch's mean loss (a float) and how many of its B images the
    model classified right before the update (an int: argmax of the scores = label).
    """
    logits = model(tensor(images))                   # (B, K) class scores
    loss = F.cross_entropy(logits, labels)           # mean over the batch of -log softmax(logits)[y]
    optimizer.zero_grad()                            # p.grad <- None (backward adds to what is there)
    loss.backward()                                  # p.grad <- dloss/dp for every parameter p
    if reduce_gradients is not None:
        reduce_gradients()
    optimizer.step()                                 # v = momentum v + g + wd p;  p -= lr v  (optim.py)
    correct = int((logits.data.argmax(axis=1) == labels).sum())
    return float(loss.item()), correct
