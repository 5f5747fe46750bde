"""Small helpers for the AppTest suites."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "web" / "streamlit_app.py"
TIMEOUT_S = 300


def copy_db(source: Path, target: Path) -> None:
    """Copy a SQLite database; the backup API copies what is still in the write-ahead log."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def open_app_page(page: str) -> AppTest:
    """The whole app (on ``$MCTSLAB_DB``), switched to ``page``, run without an exception."""
    at = AppTest.from_file(str(APP_SCRIPT), default_timeout=TIMEOUT_S)
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    return at


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
