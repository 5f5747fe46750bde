"""The "What if…" projection on the Search page (issue 15): another c (and rule) gives the
engine's next selection on the tree as it stands, drawn as a ghost path; nothing is saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apptest_support import captions, click
from streamlit.testing.v1 import AppTest

from app.web import state
from app.web.graph import GHOST_COLOUR, Highlight, graph_html, tree_digraph, vis_data
from app.web.what_if import caption, ghost_data, project
from engine.core.config import make_config
from engine.core.phases import next_selection
from engine.core.tree import Node, Tree
from storage import open_store


def hand_built_tree() -> Tree:
    """Root (N 16) over #1 (N 10, Q 0.8), #2 (N 5, Q 0.5), #3 (N 1, Q 0.2); under #1, #4
    (N 6, Q 0.3) and #5 (N 3, Q 0.9) (as in tests/engine/test_what_if.py)."""
    tree = Tree.new("1 2 3 4")
    tree.root.visits, tree.root.value_sum = 16, 10.0
    for node_id, parent, visits, q in ((1, 0, 10, 0.8), (2, 0, 5, 0.5), (3, 0, 1, 0.2),
                                       (4, 1, 6, 0.3), (5, 1, 3, 0.9)):
        tree.nodes.append(Node(id=node_id, parent=parent, depth=tree.nodes[parent].depth + 1,
                               kind="step", text=f"step {node_id}", visits=visits,
                               value_sum=q * visits))
        tree.nodes[parent].children.append(node_id)
    return tree


def graph_data(at: AppTest) -> dict[str, Any]:
    (graph, *_) = at.get("component_instance")
    data: dict[str, Any] = json.loads(graph.proto.json_args)["graph"]
    return data


def test_the_run_s_own_settings_project_nothing() -> None:
    config = make_config(exploration=1.4, widening=0.0)
    assert project(hand_built_tree(), config, 1.4, "uct") is None
    assert project(hand_built_tree(), config, 1.4, "puct") is not None
    mctsr = make_config(algorithm="mctsr", exploration=1.4)
    assert project(hand_built_tree(), mctsr, 1.4, "puct") is None  # no rule under MCTSr


def test_the_ghost_path_is_drawn_beside_the_real_one() -> None:
    tree = hand_built_tree()
    config = make_config(exploration=1.4, widening=0.0)
    projection = project(tree, config, 0.0, "uct")
    assert projection is not None and projection.path == (0, 1, 5)
    data = vis_data(tree_digraph(tree, {}, Highlight("select", path=(0, 3)), rule="uct"))
    before = json.dumps(data, sort_keys=True)
    ghost = ghost_data(data, projection)
    assert json.dumps(data, sort_keys=True) == before  # a new dict
    assert ghost["roles"]["what_if"] == {"path": [0, 1, 5], "label": projection.label}
    assert projection.label == "what-if path (projection, c=0, UCT)"
    added = [e for e in ghost["edges"] if str(e["id"]).startswith("what-if-")]
    assert [(e["from"], e["to"]) for e in added] == [(0, 1), (1, 5)]
    assert all(e["dashes"] and e["color"] == GHOST_COLOUR for e in added)
    # The real edges are all still there, the real path still highlighted.
    assert len(ghost["edges"]) == len(data["edges"]) + 2
    assert ghost["roles"]["path"] == [0, 3]
    rings = {n["id"] for n in ghost["nodes"] if n["color"]["border"] == GHOST_COLOUR}
    assert rings == {1, 5}  # the root keeps the real path's ring
    assert caption(projection) == (
        "Projection only: with c = 0 (UCT), the next selection would walk #0 → #1 → #5; "
        f"the run's own rule walks {' → '.join(f'#{n}' for n in projection.own)}. "
        "Nothing is saved or run.")
    assert 'id="what-if-legend"' in graph_html(tree, {}, Highlight())


def test_setting_c_to_zero_draws_the_projection_and_saves_nothing(
        app: AppTest, db_path: Path) -> None:
    app.sidebar.number_input(key=state.setting("children").name).set_value(4).run()
    app.sidebar.number_input(key=state.setting("widening").name).set_value(0.0).run()
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(app, "New run")
    for _ in range(3):
        click(app, "Next iteration")
    store = open_store(str(db_path))
    (run,) = store.list_runs()
    events = len(store.load_events(run.id))
    # The widgets start at the run's own c and rule: nothing projected.
    assert app.number_input(key=state.WHAT_IF_C.name).value == 1.0
    assert app.radio(key=state.WHAT_IF_RULE.name).value == "uct"
    assert "what_if" not in graph_data(app)["roles"]
    assert any(c.startswith("The run's own settings: c = 1 (UCT)") for c in captions(app))

    app.number_input(key=state.WHAT_IF_C.name).set_value(0.0).run()
    assert not app.exception
    tree = store.tree_at(run.id)
    config = store.get_run(run.id).config
    expected = next_selection(tree, config.model_copy(
        update={"exploration": 0.0, "selection": config.selection})).path
    own = next_selection(tree, config).path
    line = next(c for c in captions(app) if c.startswith("Projection only"))
    assert line.startswith("Projection only: with c = 0 (UCT), the next selection would "
                           f"walk {' → '.join(f'#{n}' for n in expected)}; "
                           f"the run's own rule walks {' → '.join(f'#{n}' for n in own)}.")
    data = graph_data(app)
    assert data["roles"]["what_if"]["path"] == list(expected)
    assert data["roles"]["what_if"]["label"] == "what-if path (projection, c=0, UCT)"
    ghost = {(e["from"], e["to"]) for e in data["edges"] if e["id"].startswith("what-if-")}
    assert ghost == set(zip(expected, expected[1:], strict=False))

    app.radio(key=state.WHAT_IF_RULE.name).set_value("puct").run()
    expected = next_selection(tree, config.model_copy(
        update={"exploration": 0.0, "selection": "puct"})).path
    assert graph_data(app)["roles"]["what_if"]["path"] == list(expected)
    assert any(c.startswith("Projection only: with c = 0 (PUCT)") for c in captions(app))
    # A projection only: no event, and the run's settings unchanged.
    assert len(store.load_events(run.id)) == events
    assert store.get_run(run.id).config == config
    assert "after 3 iterations" in next(c for c in captions(app) if c.startswith("Run #"))


def test_a_visit_to_another_page_keeps_the_what_if_widgets(app: AppTest) -> None:
    """Search, Runs, Search: the What-if c and rule are the run's own again (before, the
    c came back as 0 and a projection was drawn that nobody asked for)."""
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("4 5 6 10")
    click(app, "New run")
    click(app, "Next iteration")
    assert app.number_input(key=state.WHAT_IF_C.name).value == 1.0
    app.switch_page("page_scripts/runs.py").run()
    app.switch_page("page_scripts/search.py").run()
    assert not app.exception
    assert app.number_input(key=state.WHAT_IF_C.name).value == 1.0
    assert app.radio(key=state.WHAT_IF_RULE.name).value == "uct"
    assert "what_if" not in graph_data(app)["roles"]
    # A value the user set is kept too.
    app.number_input(key=state.WHAT_IF_C.name).set_value(0.5).run()
    app.switch_page("page_scripts/runs.py").run()
    app.switch_page("page_scripts/search.py").run()
    assert app.number_input(key=state.WHAT_IF_C.name).value == 0.5
    assert graph_data(app)["roles"]["what_if"]["label"] == \
        "what-if path (projection, c=0.5, UCT)"
