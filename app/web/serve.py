"""``python -m app.web.serve run APP [OPTIONS]``: Streamlit's own command line (what
``mctslab app`` runs), in a process that first imports what the Search page needs to draw
its first screen: the run store (SQLAlchemy, Alembic), the settings (pydantic), the tasks.

Streamlit imports a page's modules only when a browser first opens it, so without this a
newcomer's first visit waited a second or more for them on top of loading the page. Torch
is not among them: it comes with a model, when a run starts (the Search page starts
importing it in the background once it has drawn its first screen).
"""

from __future__ import annotations

import importlib

FIRST_SCREEN_MODULES = (
    "storage",
    "app.runs.live",
    "engine.core.config",
    "engine.tasks.game24",
    "engine.tasks.reflection",
    "engine.backends.openai_server",
    "numpy",  # with PIL: Streamlit draws the page's icon with them
    "PIL.Image",
    "huggingface_hub:scan_cache_dir",  # the model box lists the cached models
)
"""Imported before the server starts (``module:name`` also loads a lazily imported name). No
module that declares a Streamlit cache: those are imported by the pages, inside Streamlit's
runtime."""


def preload() -> None:
    for entry in FIRST_SCREEN_MODULES:
        module, _, name = entry.partition(":")
        loaded = importlib.import_module(module)
        if name:
            getattr(loaded, name)


def main() -> None:
    preload()
    from streamlit.web.cli import main as streamlit_main

    # The same program name as ``python -m streamlit``, so Streamlit sees the same command.
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
