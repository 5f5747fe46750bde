"""Search (live): pose a problem, step MCTS phase by phase, watch the tree grow."""

from __future__ import annotations

import re
import time
from typing import Any

import streamlit as st

from app.runs.live import LiveRun, SettingSpec, setting_specs
from app.web import state, steer_controls
from app.web.resources import example_puzzles, get_model, get_store, known_models, warm_up
from engine.backends import DEMO_MODEL_NAME
from engine.core.config import make_config, setting_applies
from engine.errors import InputError, MctsLabError
from engine.tasks.reflection import REFLECTION_LINE

# Settings drawn in the sidebar itself, not in "Search settings": the task and the algorithm
# (MCTS or MCTSr) beside the problem. (A page script shows a bare string, so no docstring.)
SIDEBAR_SETTINGS = ("task", "algorithm", "seed", "reference_answer")
# While a batch runs, the workspace reruns itself this often; each rerun runs iterations
# for up to state.BATCH_DRAW_S seconds, then draws the tree once.
BATCH_TICK_S = 0.1
# A problem shown in the first screen's button (a label is Markdown: only plain characters).
PLAIN_PROBLEM = re.compile(r"[A-Za-z0-9 .,?+=-]{1,40}")


def init_state() -> None:
    for key in (state.PROBLEM, state.MODEL_NAME, state.RUN_N, state.EXAMPLE_INDEX):
        key.set_default()
    for spec in setting_specs():
        state.setting(spec.name).set_default(spec.default if spec.default is not None else "")


def next_example() -> None:
    """The next bundled puzzle, skipping the one already in the box (the first bundled
    puzzle is the default problem: the first press would otherwise change nothing)."""
    examples = example_puzzles()
    index = state.EXAMPLE_INDEX.get()
    if examples[index % len(examples)] == " ".join(state.PROBLEM.get().split()):
        index += 1
    state.PROBLEM.set(examples[index % len(examples)])
    state.EXAMPLE_INDEX.set(index + 1)
    state.setting("task").set("game24")


def pick_example() -> None:
    state.PROBLEM.set(state.EXAMPLE_PICK.get() or "")
    state.setting("task").set("game24")


MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#~|])")


def markdown_safe(text: str) -> str:
    """``text`` with Markdown's special characters escaped: a widget's help is Markdown, and
    ``c*sqrt(…)*`` must not turn into italics."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def setting_widget(spec: SettingSpec) -> None:
    key, label, help_text = state.setting(spec.name).name, spec.label, markdown_safe(spec.help)
    if spec.kind == "choice":
        st.selectbox(label, spec.options, key=key, help=help_text)
    elif spec.kind == "bool":
        st.checkbox(label, key=key, help=help_text)
    elif spec.kind == "int":
        st.number_input(label, key=key, help=help_text, step=1,
                        min_value=int(spec.min_value) if spec.min_value is not None else None,
                        max_value=int(spec.max_value) if spec.max_value is not None else None)
    elif spec.kind == "float":
        # A small default (MCTSr's eps, 0.001) gets the digits and the step to show it.
        small = isinstance(spec.default, float) and 0 < abs(spec.default) < 0.01
        st.number_input(label, key=key, help=help_text, step=spec.default if small else 0.1,
                        format="%.4f" if small else "%.2f",
                        min_value=spec.min_value, max_value=spec.max_value)
    else:
        st.text_input(label, key=key, help=help_text)


def config_values() -> dict[str, Any]:
    """The settings as typed, for ``make_config`` (an empty text means no value)."""
    values = {}
    for spec in setting_specs():
        value = state.setting(spec.name).get()
        values[spec.name] = None if spec.kind == "text" and value == "" else value
    return values


def sidebar() -> None:
    specs = {s.name: s for s in setting_specs()}
    with st.sidebar:
        st.subheader("Problem")
        setting_widget(specs["task"])
        setting_widget(specs["algorithm"])
        values = config_values()
        if values["task"] == "freeform" and \
                state.MODEL_NAME.get().strip() in ("", DEMO_MODEL_NAME):
            st.warning("The demo model was trained on Game of 24 only: on a free-text "
                       "question it writes Game-of-24 steps. Name another model below (a "
                       "local directory or a cached Hugging Face id) for free text.")
        st.text_area("Problem", key=state.PROBLEM.name, height=80,
                     help="Game of 24: four whole numbers from 1 to 13, e.g. '4 5 6 10'. "
                     "Freeform: any question.")
        left, right = st.columns(2)
        left.button("Example puzzle", on_click=next_example, width="stretch",
                    help="The next of the 100 bundled Game-of-24 puzzles (Tree-of-Thoughts "
                    "901-1000).")
        right.selectbox("Examples", example_puzzles(), key=state.EXAMPLE_PICK.name, index=None,
                        on_change=pick_example, label_visibility="collapsed",
                        placeholder="Pick one…")
        if setting_applies("reference_answer", values):
            setting_widget(specs["reference_answer"])
        st.text_input("Model", key=state.MODEL_NAME.name,
                      help="'demo' (the bundled Game-of-24 model), a local model directory, "
                      "the id of a model in the local Hugging Face cache, or an "
                      "OpenAI-compatible server (vLLM, SGLang) by its URL: "
                      "http://HOST:PORT/v1, optionally http://HOST:PORT/v1?model=NAME.")
        st.selectbox("Known models", model_choices(), key=state.MODEL_PICK.name, index=None,
                     on_change=pick_model, placeholder="Bundled, cached or used before…",
                     help="The bundled model, the models in the local Hugging Face cache, "
                     "and the model servers that stored runs used.")
        setting_widget(specs["seed"])
        with st.expander("Search settings"):
            for spec in specs.values():
                # A setting that another one makes moot (mini-step tokens with step
                # granularity) is hidden; its value is kept.
                if spec.name not in SIDEBAR_SETTINGS and setting_applies(spec.name, values):
                    setting_widget(spec)
        st.button("New run", type="primary", on_click=new_run, width="stretch",
                  help="Start a new search on this problem with these settings (saved as a "
                  "new run).")


def model_choices() -> list[str]:
    try:
        store = get_store()
    except MctsLabError:
        store = None
    return known_models(store)


def pick_model() -> None:
    picked = state.MODEL_PICK.get()
    if picked:
        state.MODEL_NAME.set(picked)


def new_run() -> None:
    """Start a search from the sidebar (a callback: errors are kept for the page to show)."""
    state.PAGE_ERROR.clear()
    try:
        config = make_config(**config_values())
        store = get_store()
        model = get_model(state.MODEL_NAME.get().strip())
        try:
            live = LiveRun.start(store, model, config, state.PROBLEM.get())
        except InputError as err:
            what = "Game-of-24 puzzle" if config.task == "game24" else "problem"
            raise InputError(f"This is not a valid {what}: {err}") from None
        state.LIVE_RUN.set(live)
        state.LIVE.node.set(0)
    except MctsLabError as err:
        state.PAGE_ERROR.set(str(err))


def start_batch() -> None:
    state.BATCH.set(state.Batch(done=0, total=int(state.RUN_N.get())))


def stop_batch() -> None:
    """Stop a batch after the iteration in flight, and say where it stopped."""
    batch = state.BATCH.get()
    live = state.LIVE_RUN.get()
    if batch is not None:
        batch.stopped = True
        if live is not None:
            live.wait_idle()  # the iteration in flight ends; no other one starts
        state.STOP_MESSAGE.set(f"Stopped at {batch.done}/{batch.total} iterations (every "
                               "finished iteration is saved).")
    state.BATCH.set(None)


def controls(live: LiveRun) -> None:
    """Step buttons; each step is saved before the page redraws."""
    from app.web.views import selected_node

    store = get_store()
    cols = st.columns([1, 1, 0.8, 1.1, 1.4])
    phase = cols[0].button("Next phase", width="stretch",
                           help="Run one phase: select, expand, simulate or backpropagate.")
    iteration = cols[1].button("Next iteration", width="stretch",
                               help="Finish the current iteration (all four phases).")
    n = cols[2].number_input("N", key=state.RUN_N.name, min_value=1, max_value=1000, step=1,
                             label_visibility="collapsed")
    cols[3].button(f"Run {n} iterations", width="stretch", on_click=start_batch,
                   help="Run N iterations, each saved as it ends; the tree is redrawn "
                   "every 3 seconds or so. Stop ends it after the iteration in flight.")
    node = selected_node(live.search.tree, state.LIVE.node)
    mctsr = live.search.config.algorithm == "mctsr"
    reflect = cols[4].button(f"Add reflection under #{node}", width="stretch",
                             disabled=mctsr,
                             help="An MCTSr run refines its answers itself: a reflection by "
                             "hand is for MCTS runs." if mctsr else
                             f"Append '{REFLECTION_LINE}' as a new branch under the "
                             "selected node.")
    try:
        if phase:
            live.step_phase(store)
        elif iteration:
            live.step_iteration(store)
        elif reflect:
            live.add_reflection(store, node)
    except MctsLabError as err:
        st.error(str(err))


def batch_step(live: LiveRun) -> None:
    """Iterations of a running batch (Run N iterations) for up to ``state.BATCH_DRAW_S``,
    then its progress bar; the page draws the tree once after them.

    A batch is a few iterations per rerun of the workspace (a timer reruns it), not one loop
    inside one run: every finished iteration is saved as it ends, Stop ends the loop after
    the iteration in flight (``Batch.stopped``), and the tree is drawn every three seconds
    or so instead of after every iteration (drawing is what made a batch cost several times
    the CLI), but not when the rest of the batch takes about as long again."""
    batch = state.BATCH.get()
    assert batch is not None
    started, first = time.monotonic(), batch.done
    try:
        while batch.done < batch.total and not batch.stopped:
            with live.lock:  # Stop reads ``done`` only between two iterations
                if batch.stopped:
                    break
                before = live.search.tree.iterations_done
                live.step_iteration(get_store(), batch.total - batch.done)
                batch.done += max(1, live.search.tree.iterations_done - before)
            if state.batch_draws_now(time.monotonic() - started, batch.done - first,
                                     batch.total - batch.done, state.BATCH_DRAW_S):
                break
    except MctsLabError as err:
        state.BATCH.set(None)
        st.error(str(err))
        return
    if batch.done >= batch.total:
        state.BATCH.set(None)  # drawn now; the workspace then stops the timer
        return
    st.progress(batch.done / batch.total, text=f"{batch.done} / {batch.total} iterations")
    if not state.BATCH_TIMER.get():
        st.rerun(scope="app")  # start the timer (and enable Stop): only a full run can


def start_here() -> None:
    """A fresh page's workspace: one obvious first act, a run on the problem in the box."""
    problem = " ".join(state.PROBLEM.get().split())
    shown = problem if PLAIN_PROBLEM.fullmatch(problem) else "this problem"
    st.markdown("Monte Carlo Tree Search grows a tree of the model's reasoning steps, one "
                "phase at a time: selection, expansion, simulation, backpropagation.")
    st.button(f"Start a run on {shown}", type="primary", icon=":material/play_arrow:",
              on_click=new_run, help="A new run on the problem in the sidebar with the "
              "settings there (saved as a new run), ready to step.")
    st.caption("Or type another problem in the sidebar (Example puzzle gives one of 100 "
               "bundled Game-of-24 puzzles), change the settings, then press New run.")


def workspace() -> None:
    # Imported here, not at the top: with them comes torch (seconds), and a fresh page
    # draws its sidebar and first screen before that.
    from app.web.views import render_moment, summary_line

    live = state.LIVE_RUN.get()
    if live is None:
        return
    live.wait_idle()
    if state.BATCH.get() is not None:
        # First, before anything is drawn: an interrupted run then never stops mid-step.
        batch_step(live)
        if state.BATCH.get() is None and state.BATCH_TIMER.get():
            # The batch ended in this timer run: stop the timer (and disable Stop), which
            # only a full run can do. That run draws the last tree; drawing it here too
            # would only delay it.
            st.rerun(scope="app")
    controls(live)
    tree = live.search.tree
    st.caption(f"Run #{live.run_id} · {summary_line(tree)}")
    mctsr = live.search.config.algorithm == "mctsr"  # an MCTSr run refines by itself
    render_moment(tree, live.search.config, live.search.events, live.step_events,
                  keys=state.LIVE, view_key=f"run-{live.run_id}", show_what_if=True,
                  steer=None if mctsr else lambda node: steer_controls.render(live, node))


def main() -> None:
    init_state()
    sidebar()
    st.title("Search")
    error = state.PAGE_ERROR.get()
    if error is not None:
        st.error(error)
    running = state.BATCH.get() is not None
    state.BATCH_TIMER.set(running)
    if state.LIVE_RUN.get() is None:
        start_here()
        warm_up()  # the page is drawn: load torch for the first run meanwhile
        return
    st.button("Stop", type="tertiary", icon=":material/stop_circle:", on_click=stop_batch,
              disabled=not running, help="Stop a run of N iterations after the iteration in "
              "flight (every finished iteration is saved).")
    stopped = state.STOP_MESSAGE.take()
    if stopped is not None:
        st.info(stopped, icon=":material/stop_circle:")
    # Stepping reruns only the workspace; while a batch runs, a timer reruns it.
    st.fragment(workspace, run_every=BATCH_TICK_S if running else None)()


main()
