"""Each rank's share of a batch: contiguous rows, sizes that differ by at most one.

``batch_size`` always means the GLOBAL batch, B images per step whatever the
number of ranks K, so a run means the same thing on one process or many.
Every rank walks the same global batches (the DataLoader's order comes from
the seed and the epoch alone) and keeps only its rows of each:

    B = q K + m  (0 <= m < K):  rank r takes q + 1 rows if r < m, else q
    rank r's rows: start_r = r q + min(r, m),  stop_r = start_r + (its count)

For B = 10, K = 4: ranks 0..3 take rows 0:3, 3:6, 6:8, 8:10. The shares are
disjoint and cover the batch, so every image of it is used once per step.

The gradient of the batch's mean loss is then the weighted sum of the
ranks' mean-loss gradients (gradients.py does the sum):

    g = (1/B) sum_i grad loss_i = sum_r (b_r / B) g_r,   g_r = (1/b_r) sum_{i in r} grad loss_i
"""


def share(rows, rank, size):
    """The slice of a batch of ``rows`` rows that ``rank`` (of ``size`` ranks) takes."""
    if not 0 <= rank < size:
        raise ValueError(f"share: rank {rank} is not one of the {size} ranks 0..{size - 1}")
    base, extra = divmod(rows, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def batch_sizes(images, batch_size):
    """The sizes of the global batches of an epoch over ``images`` images: B, B, ..., then the rest."""
    full, rest = divmod(images, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def empty_share_problem(images, batch_size, size):
    """None if every rank gets at least one image of every batch, else a sentence saying why not.

    A rank with no rows would have no loss to differentiate (a mean over no
    images), so minicnn asks for batches of at least ``size`` images.
    """
    smallest = min(batch_sizes(images, batch_size), default=0)
    if size == 1 or smallest >= size:
        return None
    if batch_size < size:
        return (f"the batch size {batch_size} is smaller than the {size} ranks that share each batch; "
                f"give every rank at least one image: a batch size of {size} or more")
    return (f"{images} training images in batches of {batch_size} leave a last batch of {smallest} "
            f"image(s), fewer than the {size} ranks that share it; change the batch size or the "
            "number of training images (minicnn train --train-limit), or run on fewer ranks")
