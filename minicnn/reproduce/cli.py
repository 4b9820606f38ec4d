"""The command line: ``minicnn reproduce zfnet ...`` and ``python -m minicnn.reproduce zfnet ...``.

    python -m minicnn.reproduce zfnet --out repro                     # quick budget, every claim
    python -m minicnn.reproduce zfnet --out repro-full --budget full  # at convergence: hours
    python -m minicnn.reproduce zfnet --out repro --claims 1,3,7 --seeds 2

The same command resumes: run it again after Ctrl-C (or a crash) and the
finished runs are skipped, the interrupted one continues from its last
epoch's checkpoint, and the claims whose runs are unchanged are not
measured again.

minicnn/cli/main.py wires it into the ``minicnn`` command with
``add_parser(commands, [common])``; ``command(args)`` runs it.
"""

import argparse
import sys

from .budgets import BUDGETS
from .claims import CLAIMS

PAPERS = ("zfnet",)


def add_arguments(parser):
    """The options of ``reproduce``, on any argparse parser."""
    parser.add_argument("paper", choices=PAPERS, help="whose claims: zfnet (Zeiler and Fergus 2014)")
    parser.add_argument("--out", default="reproduce-zfnet",
                        help="output folder: claims.json, index.html, the runs (default: reproduce-zfnet)")
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="quick",
                        help="quick: minutes, for CI, verdicts mean little; full: every run to convergence, "
                             "hours on 2 cores (minicnn/reproduce/budgets.py)")
    parser.add_argument("--claims", default=None, metavar="1,3,7",
                        help="which claims (default: all): " + "; ".join(f"{c.id} {c.title}" for c in CLAIMS))
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per comparison, 0..N-1 (default: the budget's, 1 quick, 3 full)")
    parser.add_argument("--data-path", default=None,
                        help="Fashion-MNIST IDX directory (default: the usual lookup, see `minicnn data`)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def add_parser(subparsers, parents):
    """Add ``reproduce`` to the ``minicnn`` command's subparsers."""
    parser = subparsers.add_parser("reproduce", parents=parents,
                                   help="test ZFNet's claims on Fashion-MNIST, with a verdict per claim")
    add_arguments(parser)
    parser.set_defaults(run=command)
    return parser


def command(args):
    """Run the reproduction ``args`` asks for, print the verdicts; returns the exit status 0."""
    from .runs import ReproduceError
    from .zfnet import reproduce
    if args.seeds is not None and args.seeds < 1:
        raise ReproduceError(f"--seeds must be at least 1; got {args.seeds}")
    try:
        document = reproduce(args.out, args.budget, args.claims, args.seeds, args.data_path,
                             progress=not args.quiet)
    except KeyboardInterrupt as interrupt:
        raise KeyboardInterrupt(f"{interrupt or 'interrupted'}; every finished epoch is kept: run the same "
                                "command again to continue") from None
    for claim in document["claims"].values():
        print(f"claim {claim['id']}: {claim['verdict']:<8} {claim['title']}")
    print(f"written: {args.out}/claims.json and {args.out}/index.html")
    return 0


def main(argv=None):
    """``python -m minicnn.reproduce``: the same command without the ``minicnn`` front door."""
    from ..engine.backend import NAMES, set_backend
    from .runs import ReproduceError
    parser = argparse.ArgumentParser(prog="python -m minicnn.reproduce",
                                     description="Test a paper's claims with minicnn, with a verdict per claim.")
    parser.add_argument("--backend", choices=NAMES, default=None,
                        help="numpy, numba or cupy (default: $MINICNN_BACKEND, else the fastest available)")
    args = add_arguments(parser).parse_args(argv)
    if args.backend is not None:
        set_backend(args.backend)
    try:
        return command(args)
    except ReproduceError as error:
        print(f"python -m minicnn.reproduce: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"\npython -m minicnn.reproduce: {interrupt}", file=sys.stderr)
        return 130
