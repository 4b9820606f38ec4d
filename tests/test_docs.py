"""What the code and the docs cite is in the repository, and still where they say.

- every ``docs/<name>.md`` or ``docs/<name>.svg`` that code, tests, tutorials,
  benchmarks or READMEs mention exists, and so does every relative link in
  the Markdown pages;
- every ``minicnn/...`` path (and ``tests/``, ``tutorials/``, ``benchmarks/``
  file) written in README.md, docs/*.md, tutorials/README.md and
  benchmarks/README.md exists, so a file that moves makes this test fail
  until the docs follow it;
- docs/sources.md has the sections 1-5 that "docs/sources.md section N"
  citations point to, and explains every paper section, figure and table the
  code cites ("ZFNet 2.1", "AlexNet 3.3", "ZFNet Fig. 7", "ZFNet Table 7")
  in its index table.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES_PAGE = ROOT / "docs" / "sources.md"

# Pages whose paths are checked: a reader copies these paths into an editor.
PAGES = ["README.md", "tutorials/README.md", "benchmarks/README.md"]


def relative(path):
    return path.relative_to(ROOT).as_posix()


def pages():
    """README.md, tutorials/README.md, benchmarks/README.md and every docs/*.md."""
    found = [ROOT / name for name in PAGES] + sorted((ROOT / "docs").glob("*.md"))
    return [path for path in found if path.exists()]


def citing_files():
    """Every file that may cite the docs: code, tests, tutorials, benchmark scripts, pages."""
    files = []
    for folder, pattern in (("minicnn", "**/*.py"), ("minicnn", "**/*.md"), ("tests", "**/*.py"),
                            ("tutorials", "*.py"), ("benchmarks", "*.py")):
        files += [path for path in sorted((ROOT / folder).glob(pattern)) if "__pycache__" not in path.parts]
    return files + pages()


# ----------------------------------------------------------------- finding paths in text

DOC_PATH = re.compile(r"(?<![\w/.-])docs/[\w.-]+\.(?:md|svg)")
# minicnn/engine/shapes.py, minicnn/engine/kernels/ ... but not ~/.cache/minicnn/ or python -m minicnn.x
PACKAGE_PATH = re.compile(r"(?<![\w/.~-])minicnn/[\w./-]*")
# tests/test_x.py, tutorials/03_im2col.py, benchmarks/results/x.md: files, named with their extension
REPO_FILE = re.compile(r"(?<![\w/.~-])(?:tests|tutorials|benchmarks|docs)/[\w./-]*\.(?:py|md|svg|json|png)\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def doc_paths(text):
    return set(DOC_PATH.findall(text))


def repository_paths(text):
    """The paths inside the repository that ``text`` names, trailing punctuation removed."""
    paths = {match.rstrip(".,:;") for match in PACKAGE_PATH.findall(text) + REPO_FILE.findall(text)}
    return {path for path in paths if path}


def missing(paths, base=ROOT):
    return sorted(path for path in paths if not (base / path).exists())


def test_the_path_finder_sees_a_stale_path():
    """The checks below are not vacuous: a path that does not exist is found and reported."""
    nowhere = "docs/" + "nowhere.md"  # built, so that this file does not cite it itself
    text = (f"read `minicnn/engine/shapes.py` and minicnn/engine/nowhere.py, then {nowhere}. "
            "Not paths: ~/.cache/minicnn/x, python -m minicnn.bench.profile")
    assert repository_paths(text) == {"minicnn/engine/shapes.py", "minicnn/engine/nowhere.py", nowhere}
    assert missing(repository_paths(text)) == [nowhere, "minicnn/engine/nowhere.py"]
    assert doc_paths(text) == {nowhere}


# ----------------------------------------------------------------- (a) cited docs exist

def test_every_cited_docs_page_exists():
    cited = {}
    for path in citing_files():
        for doc in doc_paths(path.read_text(encoding="utf-8")):
            cited.setdefault(doc, []).append(relative(path))
    assert "docs/sources.md" in cited, "nothing cites docs/sources.md: did the citations move?"
    absent = {doc: where for doc, where in cited.items() if not (ROOT / doc).exists()}
    assert not absent, "cited but not in the repository:\n" + "\n".join(
        f"  {doc}, cited in {', '.join(sorted(set(where)))}" for doc, where in sorted(absent.items()))


@pytest.mark.parametrize("page", [relative(path) for path in pages()])
def test_relative_links_in_pages_resolve(page):
    path = ROOT / page
    links = [link for link in MARKDOWN_LINK.findall(path.read_text(encoding="utf-8"))
             if not re.match(r"[a-z]+:", link)]  # http:, https:, mailto: are not checked
    assert missing(links, base=path.parent) == [], f"{page} links to files that do not exist"


def test_the_architecture_picture_is_an_svg_that_the_page_shows():
    picture = ROOT / "docs" / "architecture.svg"
    text = picture.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<svg") and text.rstrip().endswith("</svg>")
    assert "(architecture.svg)" in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


# ----------------------------------------------------------------- (b) paths in the pages exist

@pytest.mark.parametrize("page", [relative(path) for path in pages()])
def test_paths_written_in_pages_exist(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    paths = repository_paths(text)
    absent = missing(paths)
    if page == "benchmarks/README.md":  # it names its results relative to itself: results/<run>/...
        local = {match.rstrip(".,:;") for match in re.findall(r"(?<![\w/.-])results/[\w./-]*\.(?:md|json|png)", text)}
        absent += missing(local, base=ROOT / "benchmarks")
    assert absent == [], f"{page} names paths that do not exist (moved or renamed?): {absent}"


# ----------------------------------------------------------------- (c) docs/sources.md sections

SECTION_CITATION = re.compile(r"docs/sources\.md\s+sections?\s+(\d+)(?:\s*(?:-|to|and)\s*(\d+))?")


def page_sections():
    """{number: body} of the numbered '## N. title' sections of docs/sources.md."""
    parts = re.split(r"^## ", SOURCES_PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    sections = {}
    for part in parts[1:]:
        number = re.match(r"(\d+)\. ", part)
        if number:
            sections[int(number.group(1))] = part
    return sections


def cited_sections():
    """{section number: [files citing it]} from "docs/sources.md section N" in code, tests, tutorials."""
    cited = {}
    for path in citing_files():
        if path == SOURCES_PAGE:
            continue
        for first, last in SECTION_CITATION.findall(path.read_text(encoding="utf-8")):
            for number in range(int(first), int(last or first) + 1):
                cited.setdefault(number, []).append(relative(path))
    return cited


def test_sources_page_has_sections_one_to_five_in_order():
    text = SOURCES_PAGE.read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)]
    assert numbers == [1, 2, 3, 4, 5]
    for number, body in page_sections().items():
        assert len(body.split()) > 100, f"docs/sources.md section {number} is nearly empty"


def test_every_cited_section_of_the_sources_page_exists():
    cited = cited_sections()
    assert {1, 2, 3, 4, 5} <= set(cited), f"expected citations of every section, found {sorted(cited)}"
    sections = page_sections()
    absent = {number: where for number, where in cited.items() if number not in sections}
    assert not absent, f"docs/sources.md has no section for these citations: {absent}"


def test_no_citation_of_a_file_outside_the_repository():
    """The study notes the project began from are not in the repository; citations point at docs/."""
    stale = re.compile(r"\bSOURCES(?:\.md\b|\s+section)")
    found = [f"{relative(path)}:{number}" for path in citing_files()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if stale.search(line)]
    assert found == [], "cite docs/sources.md instead: " + ", ".join(found)


# ----------------------------------------------------------------- paper sections, figures, tables

PAPER_SECTION = re.compile(r"\b(ZFNet|AlexNet)(?:'s)?\s+(?:section\s+|§\s*)?(?<![\d.])([1-9](?:\.\d)?)(?![\dx])"
                           r"(?:\s*-\s*([1-9](?:\.\d)?))?")
ZFNET_FIGURE = re.compile(r"\bZFNet(?:'s)?\s+(?:Fig\.|figure)\s*(\d+)")
ZFNET_TABLE = re.compile(r"\bZFNet(?:'s)?\s+Tables?\s+(\d+)(?:\s*-\s*(\d+))?")


def paper_citations(text):
    """Canonical names of the paper parts cited in ``text``: 'ZFNet section 2.1', 'ZFNet Fig. 7', ..."""
    names = set()
    for paper, first, last in PAPER_SECTION.findall(text):
        names.update({f"{paper} section {first}", f"{paper} section {last}"} - {f"{paper} section "})
    for number in ZFNET_FIGURE.findall(text):
        names.add(f"ZFNet Fig. {number}")
    for first, last in ZFNET_TABLE.findall(text):
        names.update(f"ZFNet Table {n}" for n in range(int(first), int(last or first) + 1))
    return names


def test_the_citation_finder_reads_every_form_the_code_uses():
    text = ("(ZFNet 2.1) ZFNet §2.1 (ZFNet section 5, Tables 2-3) AlexNet section 3.3-3.4 "
            "ZFNet's Fig. 2, ZFNet figure 3, ZFNet's Table 7; not: ZFNet 224x224, ZFNet (Zeiler & Fergus 2014)")
    assert paper_citations(text) == {
        "ZFNet section 2.1", "ZFNet section 5", "AlexNet section 3.3", "AlexNet section 3.4",
        "ZFNet Fig. 2", "ZFNet Fig. 3", "ZFNet Table 7",
    }


def test_every_paper_part_the_code_cites_is_explained_on_the_sources_page():
    cited = {}
    for path in citing_files():
        if path == SOURCES_PAGE:
            continue
        for name in paper_citations(path.read_text(encoding="utf-8")):
            cited.setdefault(name, []).append(relative(path))
    assert {"ZFNet section 2.1", "AlexNet section 3.3"} <= set(cited)
    page = SOURCES_PAGE.read_text(encoding="utf-8")
    absent = {name: where for name, where in cited.items()
              if not re.search(re.escape(name) + r"(?![\d]|\.\d)", page)}
    assert not absent, "docs/sources.md's index does not list:\n" + "\n".join(
        f"  {name} (cited in {', '.join(sorted(set(where)))})" for name, where in sorted(absent.items()))
