"""Export a transcript for slides and handouts: plain text, highlighted HTML, or SVG."""

from __future__ import annotations

import html
from collections.abc import Iterable
from enum import StrEnum

from pygments import highlight
from pygments.formatters import HtmlFormatter, SvgFormatter

from tutor.render.lexer import SmtpTranscriptLexer, TranscriptStyle
from tutor.render.transcript import render_transcript
from tutor.trace import Event


class ExportFormat(StrEnum):
    TXT = "txt"
    HTML = "html"
    SVG = "svg"


def export_transcript(
    events: Iterable[Event], fmt: ExportFormat, *, title: str, banner: Iterable[str] = ()
) -> str:
    """The whole transcript of a run in one format; ``banner`` lines come first (e.g. REPLAY)."""
    text = "\n".join([*banner, *render_transcript(events, explain=False)]) + "\n"
    if fmt is ExportFormat.TXT:
        return text
    lexer = SmtpTranscriptLexer(stripnl=False, ensurenl=True)
    if fmt is ExportFormat.HTML:
        formatter = HtmlFormatter(
            full=True, style=TranscriptStyle, title=html.escape(title), lineseparator="\n"
        )
        return highlight(text, lexer, formatter)
    # SVG: one <text> per line, monospace, readable when scaled on a slide. Pygments writes no
    # size, so give the picture one (and a white page) or viewers crop it to nothing.
    font_size, line_step = 14, 19
    formatter = SvgFormatter(
        style=TranscriptStyle,
        fontfamily="DejaVu Sans Mono, monospace",
        fontsize=f"{font_size}px",
        ystep=line_step,
    )
    lines = text.splitlines()
    width = int(max((len(line) for line in lines), default=80) * font_size * 0.62) + 20
    height = len(lines) * line_step + 20
    svg = highlight(text, lexer, formatter)
    return svg.replace(
        '<svg xmlns="http://www.w3.org/2000/svg">',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">\n<rect width="100%" height="100%" fill="white"/>',
        1,
    )
