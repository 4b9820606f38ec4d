"""The reproduction's own two kinds of chart; the pictures of networks come from minicnn.visualize.

    seed_bars(path, {"small": [0.09, 0.10], ...}, ...)       one bar per group (the mean), a dot per seed
    layer_lines(path, {"new classes": {1: [...], ...}}, ...)  one line per series across layers, dots per seed

Both write a PNG with minicnn's own ``new_figure``/``save`` (matplotlib's
object API, Agg) and return its path.
"""

import numpy

from ..visualize.figures import new_figure, save


def seed_bars(path, groups, ylabel, title):
    """groups: {label: [per-seed values]}: bars at the means, each seed a dot."""
    figure = new_figure(1.6 + 1.2 * len(groups), 3.4)
    ax = figure.add_subplot(1, 1, 1)
    for position, (label, numbers) in enumerate(groups.items()):
        numbers = numpy.asarray(numbers, dtype=numpy.float64)
        ax.bar(position, numbers.mean(), 0.6, color="C0", alpha=0.6)
        ax.plot(numpy.full(len(numbers), position), numbers, "o", color="k", markersize=3)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(list(groups), fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return save(figure, path)


def layer_lines(path, series, ylabel, title, xlabel="ZFNet layer"):
    """series: {name: {x: [per-seed values]}}: a line through the means, each seed a dot."""
    figure = new_figure(6, 3.4)
    ax = figure.add_subplot(1, 1, 1)
    for index, (name, table) in enumerate(series.items()):
        xs = sorted(table, key=float)
        means = [numpy.mean(table[x]) for x in xs]
        ax.plot([float(x) for x in xs], means, "o-", color=f"C{index}", label=name)
        for x in xs:
            ax.plot(numpy.full(len(table[x]), float(x)), table[x], ".", color=f"C{index}", alpha=0.5)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(figure, path)
