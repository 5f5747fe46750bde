"""Stored text inside the teaching panel's Markdown, shown as written."""

from __future__ import annotations

import re

FONT_SAFE = frozenset("·→←…—–“”‘’×≤≥√∞≈±εηλπσΣ¶│─├└")
"""The characters beyond ASCII that the app may draw: each is in both Liberation Sans
(Debian's Chromium recommends fonts-liberation) and DejaVu Sans (fontconfig's default), so
none draws as an empty box. Symbols such as a star, a tick, a triangle or the media keys are
in neither or only one: the app says them in words or with Streamlit's Material icons."""


def row_mark(chosen: bool, current: bool) -> str:
    """The first column of a score table: which row was (or would be) chosen, and which is
    the inspected node."""
    return ", ".join(word for word, on in (("chosen", chosen), ("this node", current)) if on)


def literal(text: str) -> str:
    """``text`` (which may come from the model, e.g. a step check's reason) as one Markdown
    code span: shown as written, never as a link, an image or markup."""
    flat = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {flat} {fence}"
