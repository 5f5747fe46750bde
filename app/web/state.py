"""The app's Streamlit session state: every key, its type and its default, in one place.

Pages never spell a session-state key: they use the ``Key`` objects below (``PROBLEM.get()``,
``key=PROBLEM.name`` for a widget). A key is one name and one value type; a family of keys
(the search settings, the widgets of one ``render_moment``) is built here too, never by
string formatting in a page.

Streamlit drops the value of a widget that is not drawn in a run (another page is shown);
``keep_widget_values`` writes the values in ``KEPT`` back each run, so settings typed on the
Search page outlive a visit to Runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

import streamlit as st

from engine.backends import DEMO_MODEL_NAME
from engine.strategies.settings import STRATEGIES

if TYPE_CHECKING:
    from app.runs.live import LiveRun
    from engine.strategies.runner import StrategyResult

T = TypeVar("T")
Panel = Literal["Inspector", "What just happened", "Charts"]
PANELS: tuple[Panel, ...] = ("Inspector", "What just happened", "Charts")


@dataclass(frozen=True)
class Key(Generic[T]):
    """One session-state entry: its name (also the widget key) and its value when unset."""

    name: str
    default: T

    def get(self) -> T:
        return cast(T, st.session_state.get(self.name, self.default))

    def set(self, value: T) -> None:
        st.session_state[self.name] = value

    def is_set(self) -> bool:
        return self.name in st.session_state

    def clear(self) -> None:
        st.session_state.pop(self.name, None)

    def set_default(self, value: T | None = None) -> None:
        """Set ``value`` (else the key's default) unless the key already has a value: a
        widget's first value."""
        st.session_state.setdefault(self.name, self.default if value is None else value)

    def take(self) -> T:
        """The value, then unset (a one-time message)."""
        return cast(T, st.session_state.pop(self.name, self.default))


BATCH_DRAW_S = 3.0
"""A running *Run N iterations* draws the tree after this many seconds of iterations (and
at its end): drawing after every iteration made a batch cost four times the CLI. A batch
whose own pace says that its rest takes at most as long again runs to its end and draws
once: a drawing shortly before the last one shows little that is new, and it costs a
drawing, a full-page run (to start the timer) and the timer's ticks. With 2 s and no such
rule a batch of 40 took 1.45-1.74x the CLI; now 1.07-1.38x, and 1.21x for 150
(``python -m app.bench.graph_cost --batch``, docs/app.md)."""


def batch_draws_now(elapsed_s: float, done: int, left: int, draw_s: float) -> bool:
    """Whether a batch that has run ``done`` iterations in ``elapsed_s`` seconds since it
    last drew, with ``left`` still to run, stops to draw now (``BATCH_DRAW_S``): its time is
    up, and at its own pace its rest takes longer than ``draw_s`` again."""
    if left <= 0 or elapsed_s < draw_s:
        return False
    return left * elapsed_s / max(done, 1) > draw_s


@dataclass
class Batch:
    """A running *Run N iterations*: iterations for up to ``BATCH_DRAW_S`` per rerun of the
    Search workspace."""

    done: int
    total: int
    stopped: bool = False
    """Set by Stop on this very object, which the loop running the iterations holds: it
    ends after the iteration in flight, whichever script run it is in."""


@dataclass(frozen=True)
class MomentKeys:
    """The widgets of one ``views.render_moment`` (the live tree or the replayed one)."""

    node: Key[int | None]
    """The node chosen in the select box under the graph (or by a click on the graph)."""
    graph: Key[Any]
    """The graph component's last click, ``{"node": id, ...}``."""
    labels: Key[str]
    """What the graph's labels show after each node's id: ``nq`` (N and Q), ``score`` (the
    selection score) or ``text`` (the start of the node's text); ``graph.LabelBy``."""
    panel: Key[Panel]
    """Which panel is shown under the graph."""


def moment_keys(prefix: str) -> MomentKeys:
    return MomentKeys(node=Key(f"{prefix}_node", None), graph=Key(f"{prefix}_graph", None),
                      labels=Key(f"{prefix}_labels", "nq"),
                      panel=Key(f"{prefix}_panel", "Inspector"))


# -- Search ---------------------------------------------------------------------------------
PROBLEM: Key[str] = Key("problem", "4 5 6 10")
MODEL_NAME: Key[str] = Key("model_name", DEMO_MODEL_NAME)
MODEL_PICK: Key[str | None] = Key("model_pick", None)
RUN_N: Key[int] = Key("run_n", 10)
"""N in *Run N iterations*."""
EXAMPLE_INDEX: Key[int] = Key("example_index", 0)
"""Which bundled puzzle *Example puzzle* gives next."""
EXAMPLE_PICK: Key[str | None] = Key("example_pick", None)
PAGE_ERROR: Key[str | None] = Key("page_error", None)
"""An error from the *New run* callback, shown when the page is drawn."""
LIVE_RUN: Key[LiveRun | None] = Key("live", None)
BATCH: Key[Batch | None] = Key("batch", None)
STOP_MESSAGE: Key[str | None] = Key("stop_message", None)
"""What Stop ended ("Stopped at 12/30 iterations"), shown once after it."""
BATCH_TIMER: Key[bool] = Key("batch_timer", False)
"""Whether the workspace's timer was armed by the last full run of the page."""
LIVE = moment_keys("live")
WHAT_IF_C: Key[float] = Key("what_if_c", 1.0)
"""The exploration constant c of the "What if…" projection (``app.web.what_if``)."""
WHAT_IF_RULE: Key[str] = Key("what_if_rule", "uct")
"""The selection rule of the projection (``uct`` or ``puct``; MCTS runs only)."""
WHAT_IF_FOR: Key[str | None] = Key("what_if_for", None)
"""The run (its graph's view key) the projection's widgets were last set for: a newly shown
run sets them to its own c and rule."""
STEER_TEXT: Key[str] = Key("steer_text", "")
"""The step the user writes under the selected node (*Add my step*)."""
STEER_PIN: Key[float] = Key("steer_pin", 0.5)
"""The value *Pin value* pins on the selected node."""
STEER_ERROR: Key[str | None] = Key("steer_error", None)
"""Why the last steering action was refused, shown once under its controls."""
SETTING_PREFIX = "cfg_"


def setting(name: str) -> Key[Any]:
    """The widget of ``SearchConfig`` field ``name`` on the Search page (``""``: no value)."""
    return Key(SETTING_PREFIX + name, None)


# -- Runs -----------------------------------------------------------------------------------
RUNS_PICK: Key[int | None] = Key("runs_pick", None)
RUNS_MESSAGE: Key[str | None] = Key("runs_message", None)
"""A success message for the next run of the page (after a delete or an import)."""
CONFIRM_DELETE: Key[int | None] = Key("confirm_delete", None)
"""The run whose *Delete…* awaits a yes or a cancel."""
IMPORT_FILE: Key[Any] = Key("import_file", None)

# -- Replay ---------------------------------------------------------------------------------
REPLAY_RUN: Key[int | None] = Key("replay_run", None)
REPLAY_POSITION: Key[int | None] = Key("replay_pos", None)
"""How many of the run's events are applied (``None``: the end, once the run is loaded)."""
REPLAY_ITERATION: Key[int] = Key("replay_iteration", 0)
"""The iteration slider (completed iterations at the position)."""
REPLAY_PLAYING: Key[bool] = Key("replay_playing", False)
REPLAY_LENGTH: Key[int | None] = Key("replay_len", None)
"""How many events the replayed run has (for Play at the end)."""
REPLAY = moment_keys("replay")

# -- Compare --------------------------------------------------------------------------------
COMPARE_PROBLEM: Key[str] = Key("compare_problem", "4 5 6 10")
COMPARE_BUDGET: Key[int] = Key("compare_budget", 800)
"""Generated tokens per strategy (``mctslab eval --token-budget``)."""
COMPARE_SEED: Key[int] = Key("compare_seed", 0)
COMPARE_STRATEGIES: Key[list[str]] = Key("compare_strategies", list(STRATEGIES))
COMPARE_RESULTS: Key[list[tuple[StrategyResult, int]] | None] = Key("compare_results", None)
"""The last comparison: each strategy's result and the run it was saved as."""
COMPARE_OPEN: Key[int | None] = Key("compare_open", None)
"""Which of the comparison's saved runs *Open in Replay* opens."""
COMPARE_RUN_A: Key[int | None] = Key("compare_run_a", None)
COMPARE_RUN_B: Key[int | None] = Key("compare_run_b", None)
COMPARE_SHOW: Key[str] = Key("compare_show", "all")
"""Which nodes the diff table lists: all, shared, only A or only B."""
COMPARE_GRAPH_PREFIX = "compare_graph_"


def compare_graph(strategy: str) -> Key[Any]:
    """The small graph of ``strategy``'s tree on the Compare page (its last click)."""
    return Key(COMPARE_GRAPH_PREFIX + strategy, None)


KEPT: tuple[Key[Any], ...] = (PROBLEM, MODEL_NAME, RUN_N, EXAMPLE_INDEX, WHAT_IF_C,
                              WHAT_IF_RULE, COMPARE_PROBLEM, COMPARE_BUDGET, COMPARE_SEED,
                              COMPARE_STRATEGIES)
"""Values typed on the Search and Compare pages that outlive a visit to another page (with
the settings, ``SETTING_PREFIX``). The What-if c and rule among them: dropped, they came
back as the widgets' defaults (c = 0) while ``WHAT_IF_FOR`` still named the run, projecting
unasked."""


def keep_widget_values() -> None:
    """Write back the values of ``KEPT`` and of every setting, so Streamlit keeps them while
    their widgets are not drawn."""
    names = {k.name for k in KEPT}
    for name in list(st.session_state.keys()):
        if isinstance(name, str) and (name in names or name.startswith(SETTING_PREFIX)):
            st.session_state[name] = st.session_state[name]
