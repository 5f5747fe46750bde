"""A live search in the app: the ``Search`` and the stored run it writes to as it steps.

Every step is saved as it happens: one ``append_events`` per phase, per iteration, or per
reflection, so that a page reload or a crash loses at most the step in flight.
"""

from __future__ import annotations

import threading
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from annotated_types import Ge, Gt, Le

from engine.core.config import SearchConfig
from engine.core.events import Event, SteerAction
from engine.core.tree import best_answer
from storage import RunStore

if TYPE_CHECKING:
    # Torch comes with these: they are imported when a run starts, so that the Search page
    # (which needs only ``setting_specs`` to draw its settings) shows before torch loads.
    from engine.backends.protocol import Backend
    from engine.strategies.search import Search


@dataclass
class LiveRun:
    """The search on the Search page and the run id it is saved under."""

    search: Search
    run_id: int
    step_events: list[Event] = field(default_factory=list)
    """The events of the last action (highlighted and explained)."""
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    """One step at a time, should two reruns of the page overlap (reentrant: a batch holds
    it around each iteration, which takes it again)."""

    @classmethod
    def start(cls, store: RunStore, model: Backend, config: SearchConfig, problem: str,
              title: str | None = None) -> LiveRun:
        """A new search, saved as a new ``paused`` run (``InputError`` for a bad problem)."""
        from engine.strategies.search import Search

        search = Search(model, config, problem)
        run_id = store.create_run(problem=search.tree.problem, config=config,
                                  model_name=model.name, model_fingerprint=model.fingerprint,
                                  title=title, status="paused")
        return cls(search, run_id)

    @classmethod
    def resume(cls, store: RunStore, model: Backend, run_id: int) -> LiveRun:
        """Continue a stored run from its last event (``StorageError`` if another live
        writer holds it). It stays ``paused`` until the next step."""
        from app.runs.resume import resume_search

        search = resume_search(store, run_id, model)
        store.release_run(run_id)
        return cls(search, run_id)

    @contextmanager
    def _writing(self, store: RunStore) -> Iterator[list[Event]]:
        """One step: claim the run (``running``, this process its writer), collect the
        step's events, save them and release the run (``paused``) in one transaction, even
        when the step is interrupted. So the run is written only while a step is in flight:
        an idle run (a closed tab) can be resumed from the CLI or another tab, and a copy
        that someone else continued since is refused instead of forking the history."""
        with self.lock:
            store.claim_run(self.run_id, events_seen=len(self.search.events))
            events: list[Event] = []
            try:
                yield events
            finally:
                if events:
                    self._save(store, events)
                else:
                    store.release_run(self.run_id)

    def _save(self, store: RunStore, events: list[Event]) -> None:
        answer, verdict = best_answer(self.search.tree)
        store.append_events(self.run_id, events, iterations_done=self.search.tree.iterations_done,
                            best_answer=answer, solved=verdict, release=True)
        self.step_events = events

    def wait_idle(self) -> None:
        """Wait for a step in flight in another rerun of the page (a stopped batch's last
        iteration) to finish, so that what is drawn next is the tree after it."""
        with self.lock:
            pass

    def step_phase(self, store: RunStore) -> list[Event]:
        """The next phase: one event, or one per iteration of a parallel round."""
        with self._writing(store) as events:
            events.extend(self.search.step_round_phase())
        return events

    def step_iteration(self, store: RunStore, most: int | None = None) -> list[Event]:
        """The phases up to the end of the iteration (a parallel round: the round) in
        progress; a round that starts here has at most ``most`` iterations. Whatever was
        applied is saved even if the page interrupts the step (the store always mirrors
        the tree)."""
        left = self.search.round_left
        with self._writing(store) as events:
            self.search.run(left if most is None else min(left, most),
                            on_event=events.append, raise_when_exhausted=True)
        return events

    def add_reflection(self, store: RunStore, node_id: int) -> Event:
        with self._writing(store) as events:
            events.append(self.search.add_reflection(node_id))
        return events[0]

    def add_user_step(self, store: RunStore, node_id: int, text: str) -> Event:
        """The user's ``text`` as a new child of ``node_id`` (``Search.add_user_step``)."""
        with self._writing(store) as events:
            events.append(self.search.add_user_step(node_id, text))
        return events[0]

    def steer(self, store: RunStore, node_id: int, action: SteerAction,
              value: float | None = None) -> Event:
        """Pin, unpin, prune or restore ``node_id`` (``Search.steer``)."""
        with self._writing(store) as events:
            events.append(self.search.steer(node_id, action, value))
        return events[0]


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
