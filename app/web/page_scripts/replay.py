"""Replay: any moment of a saved run, by iteration and phase, with play and pause.

The tree at a moment is the fold of the run's events up to it (``engine.core.tree.fold``), the
same code path the live search uses, so replayed and live trees are equal by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from app.web.resources import get_store
from app.web.teaching import ORIGIN_NOTES, PHASE_TITLES
from app.web.views import render_moment, summary_line
from engine.core.events import Event, Selected
from engine.core.tree import fold
from engine.errors import MctsLabError
from storage import RunInfo

PLAY_SECONDS = 1.0


def position_for_iteration(events: Sequence[Event], iteration: int) -> int:
    """How many events lie before iteration ``iteration`` starts (its Selected event)."""
    for i, event in enumerate(events):
        if isinstance(event, Selected) and event.iteration >= iteration:
            return i
    return len(events)


def iteration_at(events: Sequence[Event], position: int) -> int:
    """Completed iterations after the first ``position`` events."""
    return sum(1 for e in events[:position] if e.phase == "backprop")


def describe_position(events: Sequence[Event], position: int) -> str:
    if position == 0:
        return f"start: the empty tree (0 of {len(events)} events)"
    event = events[position - 1]
    return (f"iteration {event.iteration}, after {PHASE_TITLES[event.phase]}"
            f"{ORIGIN_NOTES.get(getattr(event, 'origin', 'phase'), '')} "
            f"— event {position} of {len(events)}")


def set_position(position: int) -> None:
    st.session_state.replay_pos = position


def on_iteration_slider(events: Sequence[Event]) -> None:
    set_position(position_for_iteration(events, st.session_state.replay_iteration))


def stepper(events: Sequence[Event], position: int) -> None:
    total_iterations = iteration_at(events, len(events))
    # The slider follows the position, which the buttons and playback also move.
    st.session_state.replay_iteration = iteration_at(events, position)
    if total_iterations > 0:
        st.slider("Iteration (completed)", 0, total_iterations, key="replay_iteration",
                  on_change=on_iteration_slider, args=(events,))
    cols = st.columns(4)
    cols[0].button("⏮ Start", on_click=set_position, args=(0,), width="stretch")
    cols[1].button("◀ Previous phase", on_click=set_position, args=(max(position - 1, 0),),
                   width="stretch", disabled=position == 0)
    cols[2].button("Next phase ▶", on_click=set_position,
                   args=(min(position + 1, len(events)),), width="stretch",
                   disabled=position >= len(events))
    cols[3].button("End ⏭", on_click=set_position, args=(len(events),), width="stretch")


def toggle_play() -> None:
    playing = not st.session_state.get("replay_playing", False)
    st.session_state.replay_playing = playing
    if playing and st.session_state.get("replay_pos") == st.session_state.get("replay_len"):
        st.session_state.replay_pos = 0


def choose_run(runs: list[RunInfo]) -> RunInfo:
    by_id = {r.id: r for r in runs}
    if st.session_state.get("replay_run") not in by_id:
        st.session_state.replay_run = runs[0].id
    return by_id[st.selectbox("Run", list(by_id), key="replay_run",
                              format_func=lambda i: f"#{i} · {by_id[i].title or ''} "
                              f"{by_id[i].problem[:40]} · {by_id[i].iterations_done} "
                              "iterations", on_change=set_position, args=(None,))]


def main() -> None:
    st.title("Replay")
    try:
        store = get_store()
        runs = store.list_runs()
        if not runs:
            st.info("No saved runs to replay yet: start one on the Search page.")
            return
        run = choose_run(runs)
        events = store.load_events(run.id)
    except MctsLabError as err:
        st.error(str(err))
        return
    st.session_state.replay_len = len(events)
    if st.session_state.get("replay_pos") is None:
        st.session_state.replay_pos = len(events)
    playing = st.session_state.get("replay_playing", False)
    # Outside the fragment: play and pause rerun the page, which re-arms the timer.
    st.button("⏸ Pause" if playing else "▶ Play", on_click=toggle_play,
              help=f"Step one phase every {PLAY_SECONDS:g} s.")

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def moment() -> None:
        position = min(int(st.session_state.replay_pos), len(events))
        if st.session_state.get("replay_playing") and position < len(events):
            position += 1
            st.session_state.replay_pos = position
        elif st.session_state.get("replay_playing"):
            st.session_state.replay_playing = False
            st.rerun(scope="app")
        stepper(events, position)
        st.caption(describe_position(events, position))
        tree = fold(run.problem, events[:position])
        st.caption(summary_line(tree))
        step = [events[position - 1]] if position else []
        render_moment(tree, run.config, events[:position], step, key="replay",
                      view_key=f"replay-{run.id}")

    moment()


main()
