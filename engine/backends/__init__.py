"""engine/backends: the model protocol, the Hugging Face backend and the server backend.

``load_backend`` is the one place a ``--model`` string becomes a backend: an ``http://``
or ``https://`` URL names an OpenAI-compatible server (``openai_server``), anything else
a Hugging Face model (the bundled ``demo``, a local directory or a cached hub id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.backends.protocol import Backend

DEMO_MODEL_NAME = "demo"
"""The bundled model's name. Here, not in ``hf``, so that naming it imports no torch (the
web app draws its pages before it loads a model)."""


def load_backend(spec: str | None = None, served_model: str | None = None) -> Backend:
    """The backend ``spec`` names (``None`` or ``demo``: the bundled model)."""
    from engine.backends.openai_server import ServerModel, is_server_spec

    if is_server_spec(spec):
        assert spec is not None
        return ServerModel(spec, served_model)
    if served_model:
        from engine.errors import InputError

        raise InputError("--served-model names a model of a server: give the server's URL "
                         "as --model (e.g. http://127.0.0.1:8000/v1).")
    from engine.backends.hf import HFModel

    return HFModel(spec)
