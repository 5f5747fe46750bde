"""The MCTS Lab web app: one entry script, five pages (``mctslab app`` runs it)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.web.state import keep_widget_values

# Not "pages/": Streamlit would also serve that folder as old-style pages, bypassing the
# navigation below when a page is opened by its URL.
PAGES_DIR = Path(__file__).resolve().parent / "page_scripts"
FAVICON = Path(__file__).resolve().parent / "favicon.png"
def main() -> None:
    # A local file: a Material icon here would make the browser fetch it from Google.
    st.set_page_config(page_title="MCTS Lab", page_icon=str(FAVICON), layout="wide")
    # Settings typed on the Search page outlive a visit to another page.
    keep_widget_values()
    pages = [
        st.Page(str(PAGES_DIR / "search.py"), title="Search", icon=":material/search:",
                default=True),
        st.Page(str(PAGES_DIR / "runs.py"), title="Runs", icon=":material/folder_open:"),
        st.Page(str(PAGES_DIR / "replay.py"), title="Replay", icon=":material/replay:"),
        st.Page(str(PAGES_DIR / "compare.py"), title="Compare",
                icon=":material/compare_arrows:"),
        st.Page(str(PAGES_DIR / "learn.py"), title="Learn", icon=":material/school:"),
    ]
    st.navigation(pages).run()


main()
