"""The Learn page and the navigation in AppTest."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def test_learn_explains_with_the_apps_own_pictures(app: AppTest) -> None:
    app.switch_page("page_scripts/learn.py").run()
    assert not app.exception
    headers = [h.value for h in app.header]
    assert headers == ["The four phases", "UCT vs PUCT", "The confidence reward", "Reflection",
                       "MCTSr: Monte Carlo Tree Self-Refine"]
    assert [s.value for s in app.subheader][:4] == [
        "1 · Selection", "2 · Expansion", "3 · Simulation (rollout)", "4 · Backpropagation"]
    # Four phases and the reflection, then MCTSr's four phases (test_page_mctsr).
    assert len(app.get("component_instance")) == 9
    text = "\n".join(m.value for m in app.markdown)
    assert "← **chosen**" in text and "W = " in text and "Q: " in text
    rules = app.dataframe[0].value
    assert sorted(set(rules["rule"])) == ["PUCT", "UCT"] and len(rules) == 6
    confidence = app.dataframe[1].value
    assert confidence["confidence c"].between(0, 1).all()


def test_navigation_has_four_pages(app: AppTest) -> None:
    for page, title in [("runs", "Runs"), ("replay", "Replay"), ("learn", "Learn"),
                        ("search", "Search")]:
        app.switch_page(f"page_scripts/{page}.py").run()
        assert not app.exception
        assert app.title[0].value == title
