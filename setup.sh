#!/usr/bin/env bash
# Installs what minicnn needs on a fresh machine. Safe to run again.
#  1. minicnn itself, editable, with its test tools (pip: numpy, numba,
#     matplotlib, tqdm, pytest, hypothesis, jupytext, and for `minicnn explore`
#     Werkzeug, Pillow and Selenium; see setup.cfg), and MPI for data-parallel
#     training (the extra "mpi": mpi4py and the mpich wheel, which puts
#     mpiexec next to python; tests/test_distributed.py needs it)
#  2. full Fashion-MNIST from Debian's package dataset-fashion-mnist, when
#     this is a Debian/Ubuntu machine and we are root; otherwise minicnn uses
#     the real sample embedded in the package (or `minicnn data --fetch`).
#  3. headless Chromium and its driver (Debian's chromium and chromium-driver),
#     when root with apt-get, for the browser tests of `minicnn explore`
#     (tests/test_explore_browser.py; they skip without a browser, except
#     under CI=true). Selenium, Werkzeug and Pillow come with step 1.
set -eu
cd "$(dirname "$0")"
python3 -m pip install --quiet --disable-pip-version-check -e ".[dev,mpi]"
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
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "setup: chromium and chromedriver found (browser tests of minicnn explore)"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing chromium and chromium-driver (apt-get) for the browser tests of minicnn explore"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
        || echo "setup: apt-get failed; the browser tests will skip (and fail under CI=true)"
else
    echo "setup: not root or no apt-get: the browser tests of minicnn explore skip" \
         "(sudo apt-get install chromium chromium-driver)"
fi
