#!/usr/bin/env bash
# Installs what minicnn needs on a fresh machine. Safe to run again.
#  1. minicnn itself, editable, with its test tools (pip: numpy, numba,
#     matplotlib, tqdm, pytest, hypothesis, jupytext; see setup.cfg)
#  2. full Fashion-MNIST from Debian's package dataset-fashion-mnist, when
#     this is a Debian/Ubuntu machine and we are root; otherwise minicnn uses
#     the real sample embedded in the package (or `minicnn data --fetch`).
set -eu
cd "$(dirname "$0")"
python3 -m pip install --quiet --disable-pip-version-check -e ".[dev]"
if dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
    echo "setup: Fashion-MNIST found (Debian package dataset-fashion-mnist)"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing full Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
        || echo "setup: apt-get failed; minicnn will use its embedded Fashion-MNIST sample"
else
    echo "setup: not root or no apt-get: minicnn will use its embedded Fashion-MNIST sample" \
         "(full data: sudo apt-get install dataset-fashion-mnist, or minicnn data --fetch fashion-mnist)"
fi
