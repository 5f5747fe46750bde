"""Stored text inside the teaching panel's Markdown, shown as written."""

from __future__ import annotations

import re


def literal(text: str) -> str:
    """``text`` (which may come from the model, e.g. a step check's reason) as one Markdown
    code span: shown as written, never as a link, an image or markup."""
    flat = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {flat} {fence}"
