"""Runs: every saved search; open one in Replay, resume it in Search, export, import,
delete."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app.runs.live import LiveRun
from app.web import state
from app.web.resources import get_model, get_store
from engine.errors import MctsLabError
from engine.tasks.answers import label_answer
from storage import RunInfo, RunStore

SOLVED_WORDS = {True: "yes", False: "no", None: "unknown"}


def runs_table(runs: list[RunInfo]) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": r.id, "title": r.title or "", "problem": r.problem,
        "user": r.user_name or "", "model": r.model_name,
        "iterations": r.iterations_done, "solved": SOLVED_WORDS[r.solved],
        "best answer": label_answer(r.task, r.problem, r.best_answer, r.solved,
                                    r.config.reference_answer).short,
        "status": r.status,
        "date": r.created_at.strftime("%Y-%m-%d %H:%M UTC"),
    } for r in runs])


def run_label(run: RunInfo) -> str:
    return f"#{run.id} · {run.title or run.problem[:40]} · {run.iterations_done} iterations"


def open_in_replay(run_id: int) -> None:
    state.REPLAY_RUN.set(run_id)
    state.REPLAY_POSITION.set(None)
    st.switch_page("page_scripts/replay.py")


def resume_in_search(store: RunStore, run_id: int) -> None:
    run = store.get_run(run_id)
    model = get_model(run.model_name)
    state.LIVE_RUN.set(LiveRun.resume(store, model, run_id))
    state.LIVE.node.set(0)
    state.PROBLEM.set(run.problem)
    for name, value in run.config.model_dump().items():
        state.setting(name).set("" if value is None else value)
    st.switch_page("page_scripts/search.py")


def actions(store: RunStore, run: RunInfo) -> None:
    cols = st.columns(4)
    if cols[0].button("Open in Replay", width="stretch"):
        open_in_replay(run.id)
    if cols[1].button("Resume in Search", width="stretch"):
        resume_in_search(store, run.id)
    run_id = run.id

    def document() -> str:
        """The run's export, made when the button is clicked: no file is prepared on every
        drawing of the page (nor left for the browser to fetch after it moved on)."""
        return json.dumps(store.export_run(run_id), indent=1)

    cols[2].download_button("Export JSON", document, file_name=f"mctslab-run-{run.id}.json",
                            mime="application/json", width="stretch")
    if cols[3].button("Delete…", width="stretch"):
        state.CONFIRM_DELETE.set(run.id)
    if state.CONFIRM_DELETE.get() == run.id:
        st.warning(f"Delete run #{run.id} and all its events? This cannot be undone.")
        yes, no = st.columns(2)
        if yes.button(f"Yes, delete run #{run.id}", type="primary"):
            store.delete_run(run.id)
            state.CONFIRM_DELETE.clear()
            state.RUNS_MESSAGE.set(f"Deleted run #{run.id}.")
            st.rerun()
        if no.button("Cancel"):
            state.CONFIRM_DELETE.clear()
            st.rerun()


def import_section(store: RunStore) -> None:
    st.subheader("Import a run")
    upload = st.file_uploader("A run exported as JSON", type=["json"],
                              key=state.IMPORT_FILE.name)
    if upload is not None and st.button("Import"):
        try:
            document = json.loads(upload.getvalue().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            st.error(f"This file is not JSON ({err}); choose a file made by Export JSON.")
            return
        run_id = store.import_run(document)
        state.RUNS_MESSAGE.set(f"Imported as run #{run_id}.")
        st.rerun()


def main() -> None:
    st.title("Runs")
    message = state.RUNS_MESSAGE.take()
    if message is not None:
        st.success(message)
    try:
        store = get_store()
        runs = store.list_runs()
        if not runs:
            st.info("No saved runs yet: start one on the Search page, or import one below.")
        else:
            st.dataframe(runs_table(runs), hide_index=True)
            by_id = {r.id: r for r in runs}
            chosen = st.selectbox("Run", list(by_id), key=state.RUNS_PICK.name,
                                  format_func=lambda i: run_label(by_id[i]))
            actions(store, by_id[chosen])
        import_section(store)
    except MctsLabError as err:
        st.error(str(err))


main()
