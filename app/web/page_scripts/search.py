"""Search (live): pose a problem, step MCTS phase by phase, watch the tree grow."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.runs.live import LiveRun, SettingSpec, setting_specs
from app.web.resources import example_puzzles, get_model, get_store
from app.web.views import render_moment, selected_node, summary_line
from engine.backends.hf import DEMO_MODEL_NAME
from engine.core.config import make_config
from engine.errors import InputError, MctsLabError
from engine.tasks.reflection import REFLECTION_LINE

SIDEBAR_SETTINGS = ("task", "seed", "reference_answer")


def init_state() -> None:
    defaults: dict[str, Any] = {"problem": "4 5 6 10", "model_name": DEMO_MODEL_NAME,
                                "run_n": 10, "example_index": 0}
    for spec in setting_specs():
        defaults[f"cfg_{spec.name}"] = spec.default if spec.default is not None else ""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def next_example() -> None:
    examples = example_puzzles()
    st.session_state.problem = examples[st.session_state.example_index % len(examples)]
    st.session_state.example_index += 1
    st.session_state.cfg_task = "game24"


def pick_example() -> None:
    st.session_state.problem = st.session_state.example_pick
    st.session_state.cfg_task = "game24"


def setting_widget(spec: SettingSpec) -> None:
    key, label = f"cfg_{spec.name}", spec.name.replace("_", " ")
    if spec.kind == "choice":
        st.selectbox(label, spec.options, key=key, help=spec.help)
    elif spec.kind == "bool":
        st.checkbox(label, key=key, help=spec.help)
    elif spec.kind == "int":
        st.number_input(label, key=key, help=spec.help, step=1,
                        min_value=int(spec.min_value) if spec.min_value is not None else None,
                        max_value=int(spec.max_value) if spec.max_value is not None else None)
    elif spec.kind == "float":
        st.number_input(label, key=key, help=spec.help, step=0.1, format="%.2f",
                        min_value=spec.min_value, max_value=spec.max_value)
    else:
        st.text_input(label, key=key, help=spec.help)


def config_values() -> dict[str, Any]:
    """The settings as typed, for ``make_config`` (an empty text means no value)."""
    values = {}
    for spec in setting_specs():
        value = st.session_state[f"cfg_{spec.name}"]
        values[spec.name] = None if spec.kind == "text" and value == "" else value
    return values


def sidebar() -> None:
    specs = {s.name: s for s in setting_specs()}
    with st.sidebar:
        st.subheader("Problem")
        setting_widget(specs["task"])
        st.text_area("Problem", key="problem", height=80,
                     help="Game of 24: four whole numbers from 1 to 13, e.g. '4 5 6 10'. "
                     "Freeform: any question.")
        left, right = st.columns(2)
        left.button("Example puzzle", on_click=next_example, width="stretch",
                    help="The next of the 100 bundled Game-of-24 puzzles (Tree-of-Thoughts "
                    "901-1000).")
        right.selectbox("Examples", example_puzzles(), key="example_pick", index=None,
                        on_change=pick_example, label_visibility="collapsed",
                        placeholder="Pick one…")
        setting_widget(specs["reference_answer"])
        st.text_input("Model", key="model_name",
                      help="'demo' (the bundled Game-of-24 model), a local model directory, "
                      "or the id of a model in the local Hugging Face cache.")
        setting_widget(specs["seed"])
        with st.expander("Search settings"):
            for spec in specs.values():
                if spec.name not in SIDEBAR_SETTINGS:
                    setting_widget(spec)
        st.button("New run", type="primary", on_click=new_run, width="stretch",
                  help="Start a new search on this problem with these settings (saved as a "
                  "new run).")


def new_run() -> None:
    """Start a search from the sidebar (a callback: errors are kept for the page to show)."""
    st.session_state.pop("page_error", None)
    try:
        config = make_config(**config_values())
        store = get_store()
        model = get_model(st.session_state.model_name.strip())
        try:
            live = LiveRun.start(store, model, config, st.session_state.problem)
        except InputError as err:
            what = "Game-of-24 puzzle" if config.task == "game24" else "problem"
            raise InputError(f"This is not a valid {what}: {err}") from None
        st.session_state.live = live
        st.session_state.live_node = 0
    except MctsLabError as err:
        st.session_state.page_error = str(err)


BATCH_TICK_S = 0.1
"""While a batch runs, the workspace reruns itself this often, one iteration a time."""


def start_batch() -> None:
    st.session_state.batch = {"done": 0, "total": int(st.session_state.run_n)}


def stop_batch() -> None:
    st.session_state.batch = None


def controls(live: LiveRun) -> None:
    """Step buttons; each step is saved before the page redraws."""
    store = get_store()
    cols = st.columns([1, 1, 0.8, 1.1, 1.4])
    phase = cols[0].button("Next phase", width="stretch",
                           help="Run one phase: select, expand, simulate or backpropagate.")
    iteration = cols[1].button("Next iteration", width="stretch",
                               help="Finish the current iteration (all four phases).")
    n = cols[2].number_input("N", key="run_n", min_value=1, max_value=1000, step=1,
                             label_visibility="collapsed")
    cols[3].button(f"Run {n} iterations", width="stretch", on_click=start_batch,
                   help="Run N iterations, one at a time, drawing each; Stop ends it.")
    node = selected_node(live.search.tree, "live_node")
    reflect = cols[4].button(f"Add reflection under #{node}", width="stretch",
                             help=f"Append '{REFLECTION_LINE}' as a new branch under the "
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
    """One iteration of a running batch (Run N iterations), then its progress bar.

    A batch is one iteration per rerun of the workspace (a timer reruns it), not a loop
    inside one run: Stop is then handled between two iterations, and each finished
    iteration is saved and drawn."""
    batch = st.session_state.batch
    try:
        live.step_iteration(get_store())
    except MctsLabError as err:
        st.session_state.batch = None
        st.error(str(err))
        return
    batch["done"] += 1
    done, total = batch["done"], batch["total"]
    if done >= total:
        st.session_state.batch = None
    else:
        st.progress(done / total, text=f"{done} / {total} iterations")
    if st.session_state.batch is None or not st.session_state.get("batch_timer"):
        st.rerun(scope="app")  # start or stop the timer, which only a full run can do


def workspace() -> None:
    live: LiveRun | None = st.session_state.get("live")
    if live is None:
        st.info("Type a problem (or press **Example puzzle**) in the sidebar, then press "
                "**New run**.")
        return
    live.wait_idle()
    if st.session_state.get("batch") is not None:
        # First, before anything is drawn: an interrupted run then never stops mid-step.
        batch_step(live)
    controls(live)
    tree = live.search.tree
    st.caption(f"Run #{live.run_id} · {summary_line(tree)}")
    render_moment(tree, live.search.config, live.search.events, live.step_events, key="live",
                  view_key=f"run-{live.run_id}")


def main() -> None:
    init_state()
    sidebar()
    st.title("Search")
    if "page_error" in st.session_state:
        st.error(st.session_state.page_error)
    running = st.session_state.get("batch") is not None
    st.session_state.batch_timer = running
    if st.session_state.get("live") is not None:
        st.button("Stop", type="tertiary", icon=":material/stop_circle:", on_click=stop_batch,
                  disabled=not running, help="Stop a run of N iterations after the iteration "
                  "in flight (every finished iteration is saved).")
    # Stepping reruns only the workspace; while a batch runs, a timer reruns it.
    st.fragment(workspace, run_every=BATCH_TICK_S if running else None)()


main()
