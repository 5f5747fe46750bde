"""Replay: any moment of a saved run, by iteration and phase, with play and pause.

The tree at a moment is the fold of the run's events up to it
(``storage.replay.fold_or_fail``: ``engine.core.tree.fold``, the same code path the live
search uses, so replayed and live trees are equal by construction; a stored event that does
not fit the tree is one line naming it, not a traceback).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from app.web import state
from app.web.resources import get_store
from app.web.teaching import event_title
from app.web.views import render_moment, summary_line
from engine.core.events import Event, Selected
from engine.core.report import iteration_label, iteration_number, phase_label
from engine.errors import MctsLabError
from storage import RunInfo, StorageError
from storage.replay import fold_or_fail, out_of_cycle

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
    if out_of_cycle(event):  # between iterations: after the ones completed so far
        where = f"{iteration_label(event.iteration, 'select')} · {event_title(event)}"
    else:
        where = phase_label(iteration_number(event.iteration), event_title(event))
    return f"{where} — event {position} of {len(events)}"


def set_position(position: int | None) -> None:
    state.REPLAY_POSITION.set(position)


def on_iteration_slider(events: Sequence[Event]) -> None:
    set_position(position_for_iteration(events, state.REPLAY_ITERATION.get()))


def stepper(events: Sequence[Event], position: int) -> None:
    total_iterations = iteration_at(events, len(events))
    # The slider follows the position, which the buttons and playback also move.
    state.REPLAY_ITERATION.set(iteration_at(events, position))
    if total_iterations > 0:
        st.slider("Iteration (completed)", 0, total_iterations, key=state.REPLAY_ITERATION.name,
                  on_change=on_iteration_slider, args=(events,))
    cols = st.columns(4)
    # Material icons ship with Streamlit's frontend; media-key symbols are missing from
    # many fonts (app.web.markup.FONT_SAFE).
    cols[0].button("Start", icon=":material/first_page:", on_click=set_position, args=(0,),
                   width="stretch")
    cols[1].button("Previous phase", icon=":material/skip_previous:", on_click=set_position,
                   args=(max(position - 1, 0),), width="stretch", disabled=position == 0)
    cols[2].button("Next phase", icon=":material/skip_next:", on_click=set_position,
                   args=(min(position + 1, len(events)),), width="stretch",
                   disabled=position >= len(events))
    cols[3].button("End", icon=":material/last_page:", on_click=set_position,
                   args=(len(events),), width="stretch")


def toggle_play() -> None:
    playing = not state.REPLAY_PLAYING.get()
    state.REPLAY_PLAYING.set(playing)
    if playing and state.REPLAY_POSITION.get() == state.REPLAY_LENGTH.get():
        state.REPLAY_POSITION.set(0)


def choose_run(runs: list[RunInfo]) -> RunInfo:
    by_id = {r.id: r for r in runs}
    if state.REPLAY_RUN.get() not in by_id:
        state.REPLAY_RUN.set(runs[0].id)
    return by_id[st.selectbox("Run", list(by_id), key=state.REPLAY_RUN.name,
                              format_func=lambda i: f"#{i} · {by_id[i].title or ''} "
                              f"{by_id[i].problem[:40]} · {by_id[i].iterations_done} "
                              "iterations", on_change=set_position, args=(None,))]


def advance(events: Sequence[Event]) -> int:
    """The position to draw; while playing, one event further than the last one drawn."""
    position = min(int(state.REPLAY_POSITION.get() or 0), len(events))
    if state.REPLAY_PLAYING.get() and position < len(events):
        position += 1
        state.REPLAY_POSITION.set(position)
    elif state.REPLAY_PLAYING.get():
        state.REPLAY_PLAYING.set(False)
        st.rerun(scope="app")
    return position


def moment(run: RunInfo, events: Sequence[Event]) -> None:
    """The stepper and the tree at the current position (a corrupt stored event: one line
    saying which, and the moments before it can still be stepped to)."""
    position = advance(events)
    stepper(events, position)
    st.caption(describe_position(events, position))
    try:
        tree = fold_or_fail(run.problem, events[:position], f"run {run.id}")
    except StorageError as err:
        state.REPLAY_PLAYING.set(False)
        st.error(str(err))
        return
    st.caption(summary_line(tree))
    step = [events[position - 1]] if position else []
    render_moment(tree, run.config, events[:position], step, keys=state.REPLAY,
                  view_key=f"replay-{run.id}")


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
    state.REPLAY_LENGTH.set(len(events))
    if state.REPLAY_POSITION.get() is None:
        state.REPLAY_POSITION.set(len(events))
    playing = state.REPLAY_PLAYING.get()
    # Outside the fragment: play and pause rerun the page, which re-arms the timer.
    st.button("Pause" if playing else "Play",
              icon=":material/pause:" if playing else ":material/play_arrow:",
              on_click=toggle_play,
              help=f"Step one phase every {PLAY_SECONDS:g} s.")

    @st.fragment(run_every=PLAY_SECONDS if playing else None)
    def replay_moment() -> None:
        moment(run, events)

    replay_moment()


main()
