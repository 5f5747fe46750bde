"""The Runs page in AppTest: list, open in Replay, resume in Search, delete, errors."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

from apptest_support import captions, click
from streamlit.testing.v1 import AppTest

from app.web import state
from storage import open_store

RUNS = "page_scripts/runs.py"


def test_lists_saved_runs(stored_app: Callable[[str], AppTest]) -> None:
    at = stored_app(RUNS)
    assert at.title[0].value == "Runs"
    table = at.dataframe[0].value
    assert list(table["title"]) == ["stored run"]
    assert list(table["problem"]) == ["4 5 6 10"]
    assert list(table["model"]) == ["demo"]
    assert list(table["user"]) == [getpass.getuser()]  # who made the run (issue 17)
    assert list(table["iterations"]) == [2]
    assert table["solved"][0] in ("yes", "no", "unknown")
    assert table["date"][0].endswith("UTC")


def test_open_in_replay_shows_the_run_at_its_end(stored_app: Callable[[str], AppTest],
                                                 stored_run_db: tuple[Path, int]) -> None:
    at = stored_app(RUNS)
    click(at, "Open in Replay")
    assert at.title[0].value == "Replay"
    assert at.selectbox(key=state.REPLAY_RUN.name).value == stored_run_db[1]
    assert any(c.endswith("event 8 of 8") for c in captions(at)), captions(at)


def test_resume_in_search_continues_the_same_run(stored_app: Callable[[str], AppTest],
                                                 db_path: Path) -> None:
    at = stored_app(RUNS)
    click(at, "Resume in Search")
    assert at.title[0].value == "Search"
    assert any(c.startswith("Run #1 · after 2 iterations · next phase: select")
               for c in captions(at))
    assert at.sidebar.number_input(key=state.setting("seed").name).value == 3
    # AppTest follows st.switch_page for one run only; stay on Search for the next click.
    at.switch_page("page_scripts/search.py").run()
    click(at, "Next iteration")
    run = open_store(str(db_path)).get_run(1)
    assert run.iterations_done == 3 and run.status == "paused"  # idle between clicks


def test_delete_asks_first_and_cancel_keeps_the_run(stored_app: Callable[[str], AppTest],
                                                    db_path: Path) -> None:
    at = stored_app(RUNS)
    click(at, "Delete…")
    assert "Delete run #1 and all its events?" in at.warning[0].value
    click(at, "Cancel")
    assert not at.warning and len(open_store(str(db_path)).list_runs()) == 1
    click(at, "Delete…")
    click(at, "Yes, delete run #1")
    assert at.success[0].value == "Deleted run #1."
    assert open_store(str(db_path)).list_runs() == []
    assert "No saved runs yet" in at.info[0].value


def test_export_is_offered_as_a_json_download(stored_app: Callable[[str], AppTest]) -> None:
    at = stored_app(RUNS)
    (download,) = at.get("download_button")
    assert download.proto.label == "Export JSON"


def test_an_unreadable_database_is_a_clear_error(db_path: Path) -> None:
    db_path.write_text("garbage " * 200)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app" / "web" /
                               "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page(RUNS).run()
    assert not at.exception
    assert at.error and "runs.db" in at.error[0].value
    at.switch_page("page_scripts/learn.py").run()
    assert not at.exception and at.title[0].value == "Learn"
