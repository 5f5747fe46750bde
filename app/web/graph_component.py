"""The live graph: a small bidirectional Streamlit component around the vis-network data.

The page is ``assets/graph_template.html`` rendered once per process in component mode
(vis-network inlined, so nothing is fetched beyond the local Streamlit server) and written
to a per-version folder in the user cache directory, which Streamlit serves to the iframe.
Each rerun sends only the graph data; clicking a node sends its id back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
import streamlit.components.v1 as components

from app.web.graph import VIS_OPTIONS, render_page

COMPONENT_NAME = "mcts_graph"
GRAPH_HEIGHT = 600

_component: Any = None


def component_dir() -> Path:
    """The folder served to the component iframe (written once per page version)."""
    page = render_page(None, mode="component", height=GRAPH_HEIGHT, options=VIS_OPTIONS)
    digest = hashlib.sha256(page.encode("utf-8")).hexdigest()[:12]
    folder = platformdirs.user_cache_path("mctslab") / f"graph-component-{digest}"
    index = folder / "index.html"
    if not index.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / "index.html.part"
        partial.write_text(page, encoding="utf-8")
        partial.replace(index)
    return folder


def graph_component(graph: dict[str, Any], *, selected: int | None, view_key: str, key: str,
                    on_change: Callable[[], None] | None = None,
                    height: int = GRAPH_HEIGHT, legend: bool = True) -> Any:
    """Draw ``graph`` (``app.web.graph.vis_data``); return the last click ``{"node": id, ...}``
    or None. ``view_key`` changes when another tree is shown, to refit the view; ``legend``
    False leaves the legend out (small pictures side by side)."""
    global _component
    if _component is None:
        _component = components.declare_component(COMPONENT_NAME, path=str(component_dir()))
    return _component(graph=graph, selected=selected, view_key=view_key, height=height,
                      legend=legend, key=key, default=None, on_change=on_change)
