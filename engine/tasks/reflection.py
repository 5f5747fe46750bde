"""Reflection: the line that makes the model doubt its own path and start again.

Marco-o1 appends this sentence at the end of a thought so that the model critiques itself
and re-derives the answer. In the tree it is a node of its own kind (``reflection``), added
by the search after an unverified answer or by hand. The bundled demo model was trained to
continue exactly this line with a fresh attempt from the original numbers.
"""

from __future__ import annotations

REFLECTION_LINE = "Wait! Maybe I made some mistakes! I need to rethink from scratch."
"""The text of every reflection node (no newline)."""


def is_reflection(text: str) -> bool:
    """Whether a node's own text is the reflection line."""
    return text.strip() == REFLECTION_LINE
