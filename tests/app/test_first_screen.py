"""What a newcomer meets in the first minute (issue 15): the Search page draws its first
screen without torch, offers one obvious first act, and draws no character that Debian's
fonts lack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from apptest_support import APP_SCRIPT, captions, click
from streamlit.testing.v1 import AppTest

from app.web import state
from app.web.markup import FONT_SAFE
from storage import open_store

ROOT = Path(__file__).resolve().parents[2]
SEARCH_SCRIPT = ROOT / "app" / "web" / "page_scripts" / "search.py"


def top_level_imports(script: Path) -> list[str]:
    """The modules a script imports at its top (what runs before it draws anything)."""
    names = []
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_the_first_screen_needs_no_torch() -> None:
    """The entry script, the Search page and the server's preloaded modules import no torch
    (seconds): the page draws before any model is loaded."""
    modules = sorted({*top_level_imports(APP_SCRIPT), *top_level_imports(SEARCH_SCRIPT)}
                     - {"__future__"})
    assert "app.runs.live" in modules and "app.web.resources" in modules
    code = (f"import importlib, sys\nfor name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "import app.web.serve\napp.web.serve.preload()\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_fresh_page_offers_a_run_on_the_problem_in_the_box(app: AppTest,
                                                             db_path: Path) -> None:
    start = [b for b in app.button if b.label.startswith("Start a run")]
    assert [b.label for b in start] == ["Start a run on 4 5 6 10"]
    assert start[0].proto.type == "primary"
    # A problem with Markdown in it is not put in the label (a label is Markdown).
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("<b>x</b> [a](http://x)").run()
    assert "Start a run on this problem" in [b.label for b in app.button]
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("1  2 3\n4").run()
    click(app, "Start a run on 1 2 3 4")
    assert not app.error
    (run,) = open_store(str(db_path)).list_runs()
    assert run.problem == "1 2 3 4" and run.iterations_done == 0
    assert any(c.startswith(f"Run #{run.id} · after 0 iterations · next phase: select")
               for c in captions(app)), captions(app)
    assert not [b for b in app.button if b.label.startswith("Start a run")]
    click(app, "Next phase")  # ready to step
    assert any("iteration 1 · after select" in c for c in captions(app)), captions(app)


def test_a_bad_problem_from_the_first_screen_is_a_clear_error(app: AppTest) -> None:
    app.sidebar.text_area(key=state.PROBLEM.name).set_value("1 2 3").run()
    click(app, "Start a run on 1 2 3")
    assert app.error[0].value.startswith("This is not a valid Game-of-24 puzzle")
    assert [b.label for b in app.button if b.label.startswith("Start a run")] == \
        ["Start a run on 1 2 3"]


def test_the_app_draws_only_characters_debians_fonts_have() -> None:
    """Every character beyond ASCII in the app's code and its graph page is one that both
    Liberation Sans and DejaVu Sans draw (``FONT_SAFE``; the browser tests check the fonts
    themselves): no star, tick, triangle or media-key symbol that draws as an empty box."""
    files = [*sorted((ROOT / "app").rglob("*.py")), ROOT / "assets" / "graph_template.html"]
    found = {}
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for char in line:
                if ord(char) > 127 and char not in FONT_SAFE:
                    found.setdefault(char, f"{path.relative_to(ROOT)}:{number}")
    assert found == {}, found
