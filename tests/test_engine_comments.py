"""No measured speed in the engine's comments and docstrings (docs/style.md, "A comment says *why*").

A comment says why a route or a loop is faster (the cache, passes through
memory, multiply-adds saved, Python's overhead) and points at the file that
holds the measurement: benchmarks/results/ or benchmarks/README.md, where it
is measured again. A figure quoted in the code goes stale. This test reads
every comment (tokenize's COMMENT tokens) and every module, class and
function docstring (ast) under minicnn/engine/ and fails, naming the file,
the line and the text, on anything that reads as a measured figure:

- a number with a time unit: "2.9 us", "0.3-0.5 ms", "50 microseconds";
- a speed-up: "9 times slower", "3-4 times faster", "1.6 times as fast",
  "2.5x faster", "twice as fast", "10% faster";
- a share of the time: "about an eighth of the time", "42% of the step time";
- a rate: "9 GB/s", "206 GFLOP/s";
- a before and after: "0.39 -> 0.19 ms";
- a date that says when something was timed: "(2026-11-30)" (a path such as
  benchmarks/results/cpu-2026-11-22-tuned/ is a pointer, and allowed).

Arithmetic is not a measurement and passes: "16 multiplications instead of
36", "2.25 times fewer multiply-adds", "9 times smaller", sizes such as
"512 KB" or "4 KiB", formulas such as "(N - F + 2P)/S + 1". A bare "s"
("0.1 s") is not read as seconds: too many formulas end in an s.
"""

import ast
import bisect
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "minicnn" / "engine"

NUMBER = r"(?<![\w.])\d[\d.,]*"          # 2.9, 1,845, 0.5 (not the 32 of float32)
TIME_UNIT = r"(?:ms|µs|us|ns|milliseconds?|microseconds?|nanoseconds?|seconds?)\b"

FIGURES = [
    ("a time", re.compile(NUMBER + r"\s*" + TIME_UNIT, re.IGNORECASE)),
    ("a speed-up", re.compile(NUMBER + r"\s*(?:x|times)\s+(?:faster|slower|quicker|as\s+fast|as\s+slow)\b",
                              re.IGNORECASE)),
    ("a speed-up", re.compile(r"\b(?:twice|thrice|half)\s+as\s+(?:fast|slow|quick)\b", re.IGNORECASE)),
    ("a speed-up", re.compile(NUMBER + r"\s*x\s+(?:the\s+speed|speed-?ups?)\b", re.IGNORECASE)),
    ("a speed-up", re.compile(NUMBER + r"\s*%\s+(?:faster|slower|quicker|less\s+time|more\s+time)\b",
                              re.IGNORECASE)),
    ("a share of the time", re.compile(
        r"(?:" + NUMBER + r"\s*%|\b(?:half|a\s+third|a\s+quarter|a\s+fifth"
        r"|an?\s+(?:sixth|seventh|eighth|ninth|tenth)))"
        r"\s+of\s+(?:the\s+|a\s+|its\s+)?(?:step'?s?\s+)?time\b", re.IGNORECASE)),
    ("a rate", re.compile(NUMBER + r"\s*(?:[KMGTP]i?B/s|[KMGTP]?FLOP/?s|[KMGTP]?FLOPS)\b", re.IGNORECASE)),
    ("a before and after", re.compile(NUMBER + r"\s*(?:" + TIME_UNIT + r")?\s*->\s*" + NUMBER + r"\s*"
                                      + TIME_UNIT, re.IGNORECASE)),
    ("a date of a measurement", re.compile(r"(?<![\w/-])(?:19|20)\d\d-\d\d-\d\d(?![\w/-])")),
]


def figures_in(text):
    """[(kind, matched text, offset)] for every figure in ``text``, in order of offset; where
    two patterns match overlapping text ("0.39 -> 0.19 ms" is also "0.19 ms"), the longer."""
    matches = sorted(((match.start(), -len(match.group(0)), kind, match.group(0))
                      for kind, pattern in FIGURES for match in pattern.finditer(text)))
    found, end = [], -1
    for start, negative_length, kind, figure in matches:
        if start >= end:
            found.append((kind, figure, start))
            end = start - negative_length
    return found


# ----------------------------------------------------------------- reading the text out of the code

def comment_blocks(source):
    """[(first line, [line of each piece], [piece, ...])]: runs of comments on consecutive lines.

    A figure may wrap from one comment line to the next ("ran\\n# 10% faster"),
    so consecutive comments are read as one text.
    """
    blocks = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        line, text = token.start[0], token.string.lstrip("#").strip()
        if blocks and blocks[-1][0][-1] == line - 1:
            blocks[-1][0].append(line)
            blocks[-1][1].append(text)
        else:
            blocks.append(([line], [text]))
    return blocks


def docstrings(source):
    """[(first line, text)] of the module's, every class's and every function's docstring."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.append((first.lineno, first.value.value))
    return found


def joined(pieces):
    """(text, starts): the pieces joined by single spaces, and where each piece starts in it."""
    starts, text = [], ""
    for piece in pieces:
        if text:
            text += " "
        starts.append(len(text))
        text += piece
    return text, starts


def offenders(source, name):
    """["name:line: kind, 'figure', in: text"] for every figure in the comments and docstrings of
    ``source``, the text of file ``name``."""
    texts = list(comment_blocks(source))
    for first_line, docstring in docstrings(source):
        pieces = [line.strip() for line in docstring.split("\n")]
        texts.append(([first_line + k for k in range(len(pieces))], pieces))
    found = []
    for lines, pieces in texts:
        text, starts = joined(pieces)
        for kind, figure, offset in figures_in(text):
            index = bisect.bisect_right(starts, offset) - 1
            found.append((lines[index], f"{name}:{lines[index]}: {kind}, {figure!r}, in: {pieces[index]}"))
    return [message for _, message in sorted(found)]


def engine_files():
    return [path for path in sorted(ENGINE.rglob("*.py")) if "__pycache__" not in path.parts]


# ----------------------------------------------------------------- the tests

@pytest.mark.parametrize("text", [
    "0.39 -> 0.19 ms", "3-4 times faster", "about twice as fast", "2.9 us", "30 µs",
    "ran 9 times slower", "1.6-1.9 times as fast on two threads", "2.5x faster", "10% faster",
    "about 9 GB/s", "206 GFLOP/s", "spin for about 3 ms", "about 50 microseconds",
    "Timed alone on a 2-core machine (2026-11-30)", "about an eighth of the time", "42% of the step time",
])
def test_the_patterns_find_measured_figures(text):
    assert figures_in(text), f"{text!r} should read as a measured figure"


@pytest.mark.parametrize("text", [
    "16 multiplications instead of 36", "2.25 times fewer multiply-adds", "512 KB",
    "(N - F + 2P)/S + 1", "9 times smaller for a 3x3 filter", "17.8 MB each", "each 4 KiB page",
    "1 -> 3 -> 5 -> 7", "2**28 CPU cycles", "tens of microseconds", "a float32 array's values",
    "benchmarks/results/cpu-2026-11-22-tuned/step-rounds-keras_mnist_cnn.md",
    "OH = (H + 2*PH - DH*(KH - 1) - 1) // SH + 1", "a few hundred KB stay in a core's cache",
    "(F, N*S) matrices", "several times slower", "in float32 to about 1e-7",
    "on a quarter of the values", "most of the time",
])
def test_the_patterns_pass_arithmetic_and_sizes(text):
    assert not figures_in(text), f"{text!r} is not a measured figure: {figures_in(text)}"


def test_a_figure_wrapped_over_two_lines_is_found_with_its_line():
    source = ('"""Module.\n\nThe loop ran 3-4 times\nfaster than the other."""\n'
              "x = 1  # took\n# 0.39 -> 0.19 ms\n")
    found = offenders(source, "sample.py")
    assert [message.split(":")[1] for message in found] == ["3", "6"], found


def test_no_measured_figures_in_engine_comments():
    found = [message for path in engine_files()
             for message in offenders(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())]
    assert not found, (
        "measured figures in the engine's comments or docstrings (docs/style.md: a comment says why "
        "and points at benchmarks/results/ or benchmarks/README.md):\n" + "\n".join(found))
