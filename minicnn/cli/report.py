"""A static HTML report: a title, a few paragraphs, then sections of figures and tables.

    sections = [Section("Training curves", "Loss and accuracy per epoch.", image=out_dir / "curves.png")]
    sections += [Section(*item) for item in later_experiment(model, dataset, out_dir)]
    write_report(out_dir / "index.html", "minicnn tour", "<p>...</p>", sections)

A section is a title, a caption and either an image (a PNG path, linked
relative to the page so the folder can be moved or zipped) or ready-made
HTML (a table). Experiments that return (title, png_path, caption) triples
become sections through ``Section.from_triple``.
"""

import dataclasses
import html
import os
from pathlib import Path

from ..training.files import atomic_write

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
figure { margin: 0.5em 0 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.95em; margin-top: 0.3em; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ddd; padding: 2px 8px; }
th { background: #f4f4f4; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
nav a { margin-right: 1em; } code, pre { background: #f6f6f6; padding: 0 3px; }
"""


@dataclasses.dataclass
class Section:
    """One part of the page: a title, an explanation, and a figure or an HTML block.

    image: path of a PNG (shown and linked); body: trusted HTML (e.g. html_table()).
    """

    title: str
    caption: str = ""
    image: object = None
    body: str = ""

    @classmethod
    def from_triple(cls, triple):
        """(title, png_path, caption), as figure-making experiments return them."""
        title, image, caption = triple
        return cls(title, caption, image=image)


def html_table(headers, rows, numeric=()):
    """An HTML table; cells are escaped. numeric: indices of right-aligned columns."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td{" class=number" if index in numeric else ""}>{html.escape(str(cell))}</td>'
            for index, cell in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _anchor(index):
    return f"section-{index}"


def relative_link(path, base):
    """``path`` relative to the folder ``base``, as a link that can only ever be a relative file:
    "./" first unless it starts with "../", so a name such as "javascript:..." is not a scheme."""
    link = Path(os.path.relpath(path, base)).as_posix()
    return link if link.startswith("../") else "./" + link


def render(title, intro_html, sections, base):
    """The page as a string; image paths are made relative to ``base`` (the page's folder).

    Everything but ``intro_html`` and a section's ``body`` (HTML the caller
    built, escaping what it did not write itself) is escaped here: titles,
    captions, links, so text from a checkpoint or a file name cannot add markup.
    """
    nav = " ".join(f'<a href="#{_anchor(i)}">{html.escape(s.title)}</a>' for i, s in enumerate(sections))
    parts = [f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
             f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", intro_html, f"<nav>{nav}</nav>"]
    for index, section in enumerate(sections):
        parts.append(f'<h2 id="{_anchor(index)}">{html.escape(section.title)}</h2>')
        if section.image is not None:
            link = html.escape(relative_link(section.image, base))
            parts.append(f'<figure><a href="{link}"><img src="{link}" alt="{html.escape(section.title)}"></a>'
                         f"<figcaption>{html.escape(section.caption)}</figcaption></figure>")
        else:
            if section.caption:
                parts.append(f"<p>{html.escape(section.caption)}</p>")
            parts.append(section.body)
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(path, title, intro_html, sections):
    """Write the page to ``path`` (atomically) and return the path."""
    path = Path(path)
    text = render(title, intro_html, sections, path.parent)
    return atomic_write(path, lambda file: file.write(text), mode="w")
