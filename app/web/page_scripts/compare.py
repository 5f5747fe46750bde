"""Compare: strategies side by side on one problem, and two saved runs node by node.

Strategies run exactly as ``mctslab eval`` runs them (``app.runs.strategies``: the same
settings, ``engine.strategies.runner.run_strategy``, the same saved run and row), with the
app's loaded model; every number in the table is the strategy's result. The diff matches
two stored runs' final trees (``RunStore.tree_at``: the fold of their events) by the path
of node texts from the root (``app.runs.diff``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app.runs.diff import SIDES, DiffRow, Side, side_counts, tree_diff
from app.runs.strategies import row_of, run_and_save, strategy_settings
from app.web import state
from app.web.graph import format_score, tree_digraph, vis_data
from app.web.graph_component import graph_component
from app.web.highlight import Highlight
from app.web.mctsr_view import rule_name
from app.web.resources import get_model, get_store
from engine.core.phases import scores_for
from engine.core.tree import best_answer
from engine.errors import MctsLabError
from engine.strategies.runner import StrategyResult
from engine.strategies.settings import STRATEGIES, StrategyName
from engine.tasks.answers import label_answer
from storage import RunInfo, RunStore

GRAPH_HEIGHT = 260
GRAPH_COLUMNS = 3
SOLVED_WORDS = {True: "yes", False: "no"}
SHOW_CHOICES = ("all", *SIDES)
SIDE_WORDS: dict[Side, str] = {"shared": "shared", "only A": "only in A",
                               "only B": "only in B"}


def results_table(done: Sequence[tuple[StrategyResult, int]]) -> pd.DataFrame:
    """One row per strategy, from its eval row (``row_of``); the answer labelled as the CLI
    labels it (``label_answer`` with the tree's own verdict)."""
    rows = []
    for result, run_id in done:
        row = row_of(0, result, run_id)
        _answer, verdict = best_answer(result.tree)
        label = label_answer(result.config.task, result.problem, result.answer, verdict,
                             result.config.reference_answer)
        rows.append({
            "strategy": row["strategy"], "signals": row["signals"],
            "solved": SOLVED_WORDS[row["solved"]], "answer": label.short,
            "tokens generated": row["tokens_generated"],
            "tokens forwarded": row["tokens_forwarded"], "iterations": row["iterations"],
            "wall s": f"{row['wall_s']:.2f}", "run": f"#{run_id}",
        })
    return pd.DataFrame(rows).set_index("strategy")


def run_strategies(names: Sequence[StrategyName], problem: str, budget: int,
                   seed: int) -> None:
    """Run ``names`` one at a time with the app's model, each saved as a run; keep the
    results for the page (``MctsLabError`` for a bad problem or setting, or the store)."""
    store = get_store()
    model = get_model(state.MODEL_NAME.get().strip())
    settings = strategy_settings(budget, {"seed": seed})
    done: list[tuple[StrategyResult, int]] = []
    state.COMPARE_RESULTS.clear()
    with st.status(f"Running {len(names)} strategies…", expanded=True) as status:
        bar = st.progress(0.0)
        for i, name in enumerate(names):
            status.update(label=f"Running {name} ({i + 1}/{len(names)})…")
            bar.progress(i / len(names), text=f"{name}…")
            try:
                result, run_id = run_and_save(name, model, problem, settings, store)
            except MctsLabError:
                status.update(label=f"{name} failed", state="error")
                raise
            assert run_id is not None
            done.append((result, run_id))
            st.write(f"{name}: saved as run #{run_id} ({result.wall_s:.2f} s)")
        bar.progress(1.0, text="done")
        status.update(label=f"Ran {len(names)} strategies", state="complete", expanded=False)
    state.COMPARE_RESULTS.set(done)
    state.COMPARE_OPEN.set(done[0][1])


def draw_trees(done: Sequence[tuple[StrategyResult, int]]) -> None:
    """Each strategy's final tree, small, drawn by the app's graph."""
    st.caption("Each strategy's final tree: size grows with visits, colour is Q (grey: "
               "unvisited), green and red rings are correct and wrong answers; the legend "
               "is under the graph on the Search page.")
    columns = st.columns(GRAPH_COLUMNS)
    for i, (result, run_id) in enumerate(done):
        tree, config = result.tree, result.config
        with columns[i % GRAPH_COLUMNS]:
            st.caption(f"{result.strategy} · run #{run_id} · {len(tree.nodes)} nodes")
            data = vis_data(tree_digraph(tree, scores_for(tree, config), Highlight(),
                                         rule=rule_name(config)))
            graph_component(data, selected=None, view_key=f"compare-{run_id}",
                            key=state.compare_graph(result.strategy).name,
                            height=GRAPH_HEIGHT, legend=False)


def open_in_replay(run_id: int) -> None:
    state.REPLAY_RUN.set(run_id)
    state.REPLAY_POSITION.set(None)
    st.switch_page("page_scripts/replay.py")


def strategies_section() -> None:
    st.header("Strategies side by side")
    st.caption("Each strategy runs as `mctslab eval` runs it (the same settings, the same "
               "generated-token budget, stopping at its first verified-correct answer) "
               "with the model chosen on the Search page, and is saved as a run.")
    state.COMPARE_PROBLEM.set_default()
    state.COMPARE_BUDGET.set_default()
    state.COMPARE_SEED.set_default()
    state.COMPARE_STRATEGIES.set_default(list(STRATEGIES))
    left, middle, right = st.columns([2, 1, 1])
    problem = left.text_input("Problem", key=state.COMPARE_PROBLEM.name,
                              help="A Game-of-24 puzzle, e.g. 4 5 6 10")
    budget = middle.number_input("Token budget", min_value=1, step=100,
                                 key=state.COMPARE_BUDGET.name,
                                 help="Generated tokens each strategy may spend.")
    seed = right.number_input("Seed", min_value=0, step=1, key=state.COMPARE_SEED.name)
    names = st.multiselect("Strategies", STRATEGIES, key=state.COMPARE_STRATEGIES.name)
    if st.button("Run strategies", type="primary", disabled=not names):
        try:
            run_strategies(names, problem.strip(), int(budget), int(seed))
        except MctsLabError as err:
            st.error(str(err))
    done = state.COMPARE_RESULTS.get()
    if not done:
        return
    st.table(results_table(done))
    ids = [run_id for _result, run_id in done]
    strategy_of = {run_id: result.strategy for result, run_id in done}
    st.caption(f"Saved as runs {', '.join(f'#{i}' for i in ids)}: open one in Replay, or "
               "pick two below to diff them.")
    pick, button = st.columns([3, 1], vertical_alignment="bottom")
    if state.COMPARE_OPEN.get() not in ids:
        state.COMPARE_OPEN.set(ids[0])
    chosen = pick.selectbox("Saved run", ids, key=state.COMPARE_OPEN.name,
                            format_func=lambda i: f"#{i} · {strategy_of[i]}")
    if button.button("Open in Replay", width="stretch"):
        open_in_replay(chosen)
    draw_trees(done)


def run_label(run: RunInfo) -> str:
    return f"#{run.id} · {run.title or run.problem[:40]} · {run.iterations_done} iterations"


def diff_table(rows: Sequence[DiffRow]) -> pd.DataFrame:
    """One row per node: where it is, its text indented by depth, its id, N and Q in each
    run (blank where the run lacks it)."""
    def stats(row: DiffRow, run: str) -> dict[str, object]:
        node = row.a if run == "A" else row.b
        return {f"{run} #": None if node is None else node.id,
                f"{run} N": None if node is None else node.visits,
                f"{run} Q": None if node is None else format_score(node.q)}

    return pd.DataFrame([{"in": row.side, "depth": row.depth,
                          "node": "· " * row.depth + row.text.replace("\n", " "),
                          "kind": row.kind, **stats(row, "A"), **stats(row, "B")}
                         for row in rows],
                        columns=["in", "depth", "node", "kind", "A #", "A N", "A Q", "B #",
                                 "B N", "B Q"])


def choose_runs(runs: list[RunInfo]) -> tuple[RunInfo, RunInfo]:
    """Run A and run B (by default the second newest and the newest: a run and its fork)."""
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    if state.COMPARE_RUN_A.get() not in by_id:
        state.COMPARE_RUN_A.set(ids[1])
    if state.COMPARE_RUN_B.get() not in by_id:
        state.COMPARE_RUN_B.set(ids[0])
    left, right = st.columns(2)
    a = left.selectbox("Run A", ids, key=state.COMPARE_RUN_A.name,
                       format_func=lambda i: run_label(by_id[i]))
    b = right.selectbox("Run B", ids, key=state.COMPARE_RUN_B.name,
                        format_func=lambda i: run_label(by_id[i]))
    return by_id[a], by_id[b]


def fork_line(a: RunInfo, b: RunInfo) -> str | None:
    for child, parent in ((b, a), (a, b)):
        if child.parent_run_id == parent.id:
            return (f"Run #{child.id} is a fork of run #{parent.id} at iteration "
                    f"{child.fork_iteration}.")
    return None


def diff_section(store: RunStore) -> None:
    st.header("Diff two runs")
    runs = store.list_runs()
    if len(runs) < 2:
        st.info("A diff needs two saved runs: run the strategies above, or save runs on the "
                "Search page (fork one with `mctslab fork`).")
        return
    run_a, run_b = choose_runs(runs)
    line = fork_line(run_a, run_b)
    if line is not None:
        st.caption(line)
    rows = tree_diff(store.tree_at(run_a.id), store.tree_at(run_b.id))
    counts = side_counts(rows)
    for column, side in zip(st.columns(3), SIDES, strict=True):
        column.metric(f"Nodes {SIDE_WORDS[side]}", counts[side])
    st.caption("Nodes are the same when the texts from the root down to them are the same "
               "(ids differ between runs). N and Q are each run's own, from its events.")
    state.COMPARE_SHOW.set_default()
    show = st.radio("Show", SHOW_CHOICES, key=state.COMPARE_SHOW.name, horizontal=True)
    shown = [r for r in rows if show == "all" or r.side == show]
    st.dataframe(diff_table(shown), hide_index=True)


def main() -> None:
    st.title("Compare")
    strategies_section()
    try:
        diff_section(get_store())
    except MctsLabError as err:
        st.error(str(err))


main()
