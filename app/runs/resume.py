"""Continuing a stored run: fold its events into a live ``Search`` that steps on from there."""

from __future__ import annotations

import logging
import os
import socket

from engine.backends.hf import HFModel
from engine.strategies.search import Search
from storage import owners
from storage.errors import StorageError
from storage.store import RunStore

logger = logging.getLogger(__name__)


def resume_search(store: RunStore, run_id: int, model: HFModel) -> Search:
    """A ``Search`` holding run ``run_id``'s tree after its last event, to continue with
    ``model``; the run becomes ``running`` and owned by this process. Refuse a run that
    another live process is still writing."""
    info = store.get_run(run_id)
    if info.status == "running" and info.owner_pid != os.getpid():
        here = info.owner_host == socket.gethostname()
        if not here or owners.alive(info.owner_pid):
            raise StorageError(f"run {run_id} is still being written by process "
                               f"{info.owner_pid} on {info.owner_host}; wait for it to finish "
                               "or stop it first")
    if model.fingerprint != info.model_fingerprint:
        logger.warning("run %d was made with model %s (fingerprint %s); continuing with %s "
                       "(fingerprint %s)", run_id, info.model_name, info.model_fingerprint,
                       model.name, model.fingerprint)
    events = store.load_events(run_id)
    try:
        search = Search(model, info.config, info.problem, events=events)
    except ValueError as err:
        raise StorageError(f"run {run_id}'s events do not fold: {err}") from None
    store.set_status(run_id, "running")
    return search
