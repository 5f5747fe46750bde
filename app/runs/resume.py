"""Continuing a stored run: fold its events into a live ``Search`` that steps on from there."""

from __future__ import annotations

import logging

from engine.backends.protocol import Backend
from engine.strategies.search import Search
from storage.errors import StorageError
from storage.store import RunStore

logger = logging.getLogger(__name__)


def resume_search(store: RunStore, run_id: int, model: Backend) -> Search:
    """A ``Search`` holding run ``run_id``'s tree after its last event, to continue with
    ``model``. The run becomes ``running`` and owned by this process (``store.claim_run``,
    refused while another live writer holds it); the caller gives it back when it stops
    writing (``store.release_run``, or a final ``set_status``)."""
    info = store.get_run(run_id)
    if model.fingerprint != info.model_fingerprint:
        logger.warning("run %d was made with model %s (fingerprint %s); continuing with %s "
                       "(fingerprint %s)", run_id, info.model_name, info.model_fingerprint,
                       model.name, model.fingerprint)
    events = store.load_events(run_id)
    try:
        search = Search(model, info.config, info.problem, events=events)
    except ValueError as err:
        raise StorageError(f"run {run_id}'s events do not fold: {err}") from None
    store.claim_run(run_id, events_seen=len(events))
    return search
