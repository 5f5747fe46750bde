"""Page scripts draw only what they call: no stray output from Streamlit's magic (a bare
string or value on its own line is written to the page), and no session-state key spelled
outside ``app.web.state``."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from pathlib import Path

from apptest_support import click
from streamlit.runtime.scriptrunner.magic import add_magic
from streamlit.testing.v1 import AppTest

from app.web import state

WEB = Path(__file__).resolve().parents[2] / "app" / "web"
SCRIPTS = sorted((WEB / "page_scripts").glob("*.py")) + [WEB / "streamlit_app.py"]
PAGES = ("search", "runs", "replay", "compare", "learn")


def magic_writes(path: Path) -> list[int]:
    """Lines whose statement Streamlit's magic turns into ``st.write`` (its own rewrite)."""
    tree = add_magic(path.read_text(encoding="utf-8"), str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "transparent_write"]


def bare_strings(path: Path) -> set[str]:
    """Every string that stands alone as a statement in ``path`` (docstrings included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.value.value for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)}


def test_no_page_script_has_a_statement_that_magic_would_write() -> None:
    assert {p.stem for p in SCRIPTS} == {*PAGES, "streamlit_app"}
    for path in SCRIPTS:
        assert magic_writes(path) == [], path.name


def test_no_page_draws_a_string_of_its_source(stored_app: Callable[[str], AppTest]) -> None:
    strings = set().union(*(bare_strings(p) for p in SCRIPTS))
    assert "Replay: any moment of a saved run" in "".join(strings)  # the parse sees them
    for page in PAGES:
        at = stored_app(f"page_scripts/{page}.py")
        if page == "search":
            click(at, "New run")  # the workspace too
            assert at.caption and at.caption[0].value.startswith("Run #2 ·")
        shown = {m.value.strip() for m in at.markdown}
        assert not {s.strip() for s in strings} & shown, page


def test_only_the_state_module_spells_session_state_keys() -> None:
    for path in sorted(WEB.rglob("*.py")):
        if path.name == "state.py":
            continue
        source = path.read_text(encoding="utf-8")
        assert "session_state" not in source, path.name
        literal_keys = [node.lineno for node in ast.walk(ast.parse(source))
                        if isinstance(node, ast.keyword) and node.arg == "key"
                        and isinstance(node.value, ast.Constant | ast.JoinedStr)]
        assert literal_keys == [], f"{path.name}: widget keys spelled on lines {literal_keys}"


def test_every_key_has_its_own_name() -> None:
    keys = [v for v in vars(state).values() if isinstance(v, state.Key)]
    for group in (state.LIVE, state.REPLAY):
        keys.extend(getattr(group, f.name) for f in dataclasses.fields(group))
    names = [k.name for k in keys]
    assert len(names) == len(set(names)) and len(names) >= 25
    assert not any(n.startswith(state.SETTING_PREFIX) for n in names)


def test_search_settings_outlive_a_visit_to_another_page(app: AppTest) -> None:
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("1 2 3 4").run()
    app.sidebar.number_input(key=state.setting("seed").name).set_value(7).run()
    app.switch_page("page_scripts/runs.py").run()
    app.switch_page("page_scripts/search.py").run()
    assert not app.exception
    assert app.sidebar.text_area(key=state.PROBLEM.name).value == "1 2 3 4"
    assert app.sidebar.number_input(key=state.setting("seed").name).value == 7
