"""A live search in the app: the ``Search`` and the stored run it writes to as it steps.

Every step is saved as it happens: one ``append_events`` per phase, per iteration, or per
reflection, so that a page reload or a crash loses at most the step in flight.
"""

from __future__ import annotations

import threading
import typing
from dataclasses import dataclass, field
from typing import Any

from annotated_types import Ge, Gt, Le

from app.runs.resume import resume_search
from engine.backends.hf import HFModel
from engine.core.config import SearchConfig
from engine.core.events import Event
from engine.core.tree import best_answer
from engine.strategies.search import Search
from storage import RunStore


@dataclass
class LiveRun:
    """The search on the Search page and the run id it is saved under."""

    search: Search
    run_id: int
    step_events: list[Event] = field(default_factory=list)
    """The events of the last action (highlighted and explained)."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """One step at a time, should two reruns of the page overlap."""

    @classmethod
    def start(cls, store: RunStore, model: HFModel, config: SearchConfig, problem: str,
              title: str | None = None) -> LiveRun:
        """A new search, saved as a new run (``InputError`` for a bad problem)."""
        search = Search(model, config, problem)
        run_id = store.create_run(problem=search.tree.problem, config=config,
                                  model_name=model.name, model_fingerprint=model.fingerprint,
                                  title=title)
        return cls(search, run_id)

    @classmethod
    def resume(cls, store: RunStore, model: HFModel, run_id: int) -> LiveRun:
        """Continue a stored run from its last event (``StorageError`` if another live
        process is writing it)."""
        return cls(resume_search(store, run_id, model), run_id)

    def _save(self, store: RunStore, events: list[Event]) -> None:
        answer, verdict = best_answer(self.search.tree)
        store.append_events(self.run_id, events, iterations_done=self.search.tree.iterations_done,
                            best_answer=answer, solved=verdict)
        self.step_events = events

    def wait_idle(self) -> None:
        """Wait for a step in flight in another rerun of the page (a stopped batch's last
        iteration) to finish, so that what is drawn next is the tree after it."""
        with self.lock:
            pass

    def step_phase(self, store: RunStore) -> Event:
        with self.lock:
            event = self.search.step_phase()
            self._save(store, [event])
        return event

    def step_iteration(self, store: RunStore) -> list[Event]:
        """The phases up to the end of the iteration in progress. Whatever was applied is
        saved even if the page interrupts the step (the store always mirrors the tree)."""
        events: list[Event] = []
        with self.lock:
            try:
                self.search.run(1, on_event=events.append, raise_when_exhausted=True)
            finally:
                if events:
                    self._save(store, events)
        return events

    def add_reflection(self, store: RunStore, node_id: int) -> Event:
        with self.lock:
            event = self.search.add_reflection(node_id)
            self._save(store, [event])
        return event


@dataclass(frozen=True)
class SettingSpec:
    """How one ``SearchConfig`` field becomes a widget."""

    name: str
    kind: str
    """``choice``, ``bool``, ``int``, ``float`` or ``text``."""
    default: Any
    help: str
    options: tuple[Any, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    label: str = ""
    """The field's title (``Field(title=...)``), for people; its name when it has none."""


def setting_specs() -> list[SettingSpec]:
    """One widget description per ``SearchConfig`` field, its description as the help."""
    specs = []
    for name, info in SearchConfig.model_fields.items():
        annotation = info.annotation
        low: float | None = None
        high: float | None = None
        for rule in info.metadata:
            if isinstance(rule, Ge):
                low = float(rule.ge)  # type: ignore[arg-type]
            elif isinstance(rule, Gt):
                low = float(rule.gt)  # type: ignore[arg-type]
            elif isinstance(rule, Le):
                high = float(rule.le)  # type: ignore[arg-type]
        if typing.get_origin(annotation) is typing.Literal:
            kind, options = "choice", typing.get_args(annotation)
        elif annotation is bool:
            kind, options = "bool", ()
        elif annotation is int:
            kind, options = "int", ()
        elif annotation is float:
            kind, options = "float", ()
        else:
            kind, options = "text", ()
        specs.append(SettingSpec(name, kind, info.default, info.description or name, options,
                                 low, high, info.title or name.replace("_", " ")))
    return specs
