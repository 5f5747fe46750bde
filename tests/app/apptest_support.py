"""Small helpers for the AppTest suites."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def click(at: AppTest, label: str) -> AppTest:
    """Click the button labelled ``label`` (main area or sidebar) and rerun."""
    matches = [b for b in at.button if b.label == label]
    assert len(matches) == 1, f"{label!r} among {[b.label for b in at.button]}"
    matches[0].click().run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)
