"""Lesson text as (X)HTML elements, built by ElementTree: paragraphs, and `backticks` as <code>.

Lesson and template text is plain prose in which a reply or a command is written between
backticks (`250 2.0.0 Ok`). Both LMS formats take HTML, so the same few rules turn it into
elements here: a blank line separates paragraphs, a backticked span becomes ``<code>``, and
every character stays text for ElementTree to escape.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable

Make = Callable[[str], ET.Element]
"""Makes an element by local name ("p", "code"), in whatever namespace the format wants."""

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def paragraphs_of(text: str) -> list[str]:
    """The paragraphs of a text, each with its whitespace collapsed."""
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text.strip()) if p.strip()]


def fill(parent: ET.Element, text: str, make: Make) -> ET.Element:
    """Append ``text`` to ``parent`` as text and <code> children (backticks mark code)."""
    pieces = text.split("`")
    if len(pieces) % 2 == 0:  # an unmatched backtick is just a character
        pieces = [text]
    last: ET.Element | None = None
    for index, piece in enumerate(pieces):
        if index % 2:
            last = make("code")
            last.text = piece
            parent.append(last)
        elif last is None:
            parent.text = (parent.text or "") + piece
        else:
            last.tail = (last.tail or "") + piece
    return parent


def add_paragraphs(parent: ET.Element, texts: Iterable[str], make: Make) -> ET.Element:
    """Append one <p> per text (each may hold several paragraphs) to ``parent``."""
    for text in texts:
        for paragraph in paragraphs_of(text):
            parent.append(fill(make("p"), paragraph, make))
    return parent


def html_fragment(texts: Iterable[str]) -> str:
    """The texts as an HTML fragment (a <div> of paragraphs), for a format that stores HTML text."""
    div = add_paragraphs(ET.Element("div"), texts, ET.Element)
    return ET.tostring(div, encoding="unicode", method="html")


__all__ = ["Make", "add_paragraphs", "fill", "html_fragment", "paragraphs_of"]
