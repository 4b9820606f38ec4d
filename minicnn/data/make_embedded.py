"""Rebuild ``embedded/``: a stratified sample of the real Fashion-MNIST shipped with minicnn.

    python -m minicnn.data.make_embedded [--source DIR] [--seed 0]

Reads the full dataset (by default from the Debian package
``dataset-fashion-mnist``), draws ``--train-per-class`` training and
``--test-per-class`` test images of every class without replacement, keeps
them in their original order, and writes the four gzipped IDX files and a
README with their provenance. The same seed and source give the same bytes.
"""

import argparse
import hashlib
from pathlib import Path

import numpy

from . import sources
from .datasets import read_split
from .idx import read_bytes, save_idx

SOURCE_DIR = sources.DEBIAN_DIRS["fashion-mnist"]
OUT_DIR = sources.EMBEDDED_DIRS["fashion-mnist"]
CLASSES = sources.CLASSES["fashion-mnist"]


def sample_indices(labels, per_class, rng):
    """Sorted indices ``(10 * per_class,)`` with ``per_class`` of each label 0..9."""
    chosen = [rng.choice(numpy.flatnonzero(labels == label), per_class, replace=False)
              for label in range(len(CLASSES))]
    return numpy.sort(numpy.concatenate(chosen))


def choose(source_dir, train_per_class, test_per_class, seed):
    """``{split: (indices, images, labels)}`` of the sample; train is drawn first."""
    rng = numpy.random.default_rng(seed)
    sample = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images, labels = read_split(source_dir, split, CLASSES)
        indices = sample_indices(labels, per_class, rng)
        sample[split] = (indices, images[indices], labels[indices])
    return sample


def provenance(source_dir, out_dir, sample, seed):
    """The text of ``embedded/README.md``."""
    lines = [
        "# Embedded Fashion-MNIST sample",
        "",
        "A stratified random sample of the real Fashion-MNIST (Xiao, Rasul and Vollgraf,",
        "Zalando Research, 2017, arXiv:1708.07747), shipped so that minicnn runs on",
        "real images with no download. `load_dataset(\"fashion-mnist\")` uses it only",
        "when no full copy is found (see `minicnn/data/sources.py`).",
        "",
        "Licence: MIT, Copyright (c) 2017 Zalando SE, https://tech.zalando.com",
        "(https://github.com/zalandoresearch/fashion-mnist/blob/master/LICENSE).",
        "",
        f"Built by `python -m minicnn.data.make_embedded --seed {seed}` from these files",
        f"(Debian package `dataset-fashion-mnist`, {source_dir}):",
        "",
        "| file | SHA-256 of the file | SHA-256 of its decompressed contents |",
        "|---|---|---|",
    ]
    for split in ("train", "test"):
        for stem in sources.FILE_STEMS[split]:
            path = sources.find_file(source_dir, stem)
            file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
            raw_hash = hashlib.sha256(read_bytes(path)).hexdigest()
            lines.append(f"| {path.name} | {file_hash} | {raw_hash} |")
    lines += [
        "",
        "Debian recompressed the upstream .gz files, so their own hashes differ from",
        "the published ones; the decompressed contents are the upstream data.",
        "",
        f"Sampling: `numpy.random.default_rng({seed})`; for each class 0..9 in order,",
        "`rng.choice(indices_of_class, k, replace=False)`, first for train then test;",
        "the chosen indices are sorted, so the original order is kept.",
        "",
        "| split | images | per class | file bytes |",
        "|---|---|---|---|",
    ]
    for split, (indices, images, labels) in sample.items():
        counts = numpy.bincount(labels, minlength=len(CLASSES))
        size = sum((out_dir / f"{stem}.gz").stat().st_size for stem in sources.FILE_STEMS[split])
        lines.append(f"| {split} | {len(indices)} | {', '.join(map(str, counts))} | {size} |")
    lines += ["", "Classes: " + ", ".join(f"{i} {name}" for i, name in enumerate(CLASSES)), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE_DIR, help="directory with the full dataset")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where to write the sample")
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sample = choose(args.source, args.train_per_class, args.test_per_class, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, (_, images, labels) in sample.items():
        images_stem, labels_stem = sources.FILE_STEMS[split]
        save_idx(args.out / f"{images_stem}.gz", images)
        save_idx(args.out / f"{labels_stem}.gz", labels.astype(numpy.uint8))
    readme = provenance(args.source, args.out, sample, args.seed)
    (args.out / "README.md").write_text(readme)
    print(readme)


if __name__ == "__main__":
    main()
