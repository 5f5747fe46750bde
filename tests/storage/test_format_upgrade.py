"""Runs saved before an expansion named its origin (event format 1, ``manual``) still load:
stored runs through the Alembic data migration, exported files through a version-1 import.
Beam steps, which format 1 stored as "manual" like hand-added reflections, come back as
beam steps."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from app.web.learn_examples import PROBLEM, example_events
from engine.core.config import make_config
from engine.core.events import ChildSpec, Event, Expanded, event_to_dict
from engine.core.tree import fold
from storage import open_store
from storage.database import alembic_config


def _events() -> list[Event]:
    """The Learn page's worked example (4 iterations, a reflection by hand) and a beam step."""
    events = example_events()
    tree = fold(PROBLEM, events)
    child = ChildSpec(len(tree.nodes), "step", "Step: 4*4=16 (left: 5 16)", (1,), -0.7, 1,
                      (0.6,), False, None, None)
    events.append(Expanded(tree.iterations_done, 2, (child,),
                           "beam search: sampled 1 next steps", "beam"))
    return events


def _round_one_config() -> dict[str, Any]:
    """Settings as round one stored them: k = 4, and none of this round's new fields."""
    new = {"evaluator", "step_check", "leaf_value", "value_weight", "widening",
           "max_children"}
    return {k: v for k, v in make_config(children=4).model_dump(mode="json").items()
            if k not in new}


def _as_format_1(payload: dict[str, Any]) -> dict[str, Any]:
    """What round one wrote for the same event."""
    old = dict(payload)
    if old["phase"] == "expand":
        old["manual"] = old.pop("origin") != "phase"
        old.pop("tokens")
        old["children"] = [{k: v for k, v in c.items() if k != "ended"}
                           for c in old["children"]]
    elif old["phase"] == "simulate":
        old.pop("tokens")
    elif old["phase"] == "select":
        old["levels"] = [{**lv, "scores": [{k: v for k, v in s.items() if k != "excluded"}
                                           for s in lv["scores"]]} for lv in old["levels"]]
    return old


def test_the_migration_turns_manual_flags_into_origins(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(engine.url, conn), "0001")
        now = datetime(2026, 11, 25, 12, 0)
        conn.execute(sa.text(
            "INSERT INTO runs (id, problem, task, model_name, model_fingerprint, config, seed,"
            " status, iterations_done, created_at, updated_at, schema_version) VALUES (1, :p,"
            " 'game24', 'demo', 'f', :c, 0, 'finished', 4, :t, :t, 1)"),
            {"p": PROBLEM, "c": json.dumps(_round_one_config()), "t": now})
        for seq, event in enumerate(_events()):
            conn.execute(sa.text(
                "INSERT INTO events (run_id, seq, iteration, phase, payload) VALUES "
                "(1, :s, :i, :ph, :pl)"),
                {"s": seq, "i": event.iteration, "ph": event.phase,
                 "pl": json.dumps(_as_format_1(event_to_dict(event)))})
    engine.dispose()
    store = open_store(str(db))
    loaded = store.load_events(1)
    origins = [e.origin for e in loaded if isinstance(e, Expanded)]
    assert origins == ["phase"] * 4 + ["reflection_by_hand", "beam"]
    assert fold(PROBLEM, loaded) == fold(PROBLEM, _events())
    info = store.get_run(1)
    assert info.schema_version == 2 and info.user_name is None  # made before 0003
    # Round one's settings search as they did: no step check, outcome values, rollout
    # leaves, no widening, no growth past one expansion of k = 4.
    assert (info.config.evaluator, info.config.step_check, info.config.leaf_value,
            info.config.widening, info.config.max_children) == ("outcome", "off", "rollout",
                                                                0.0, 4)


def test_a_version_1_export_imports_with_origins(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "new.db"))
    events = _events()
    run_id = store.create_run(problem=PROBLEM, config=make_config(), model_name="demo",
                              model_fingerprint="f")
    store.append_events(run_id, events, iterations_done=4)
    doc = store.export_run(run_id)
    assert doc["version"] == 2
    doc["version"] = 1
    doc["events"] = [_as_format_1(e) for e in doc["events"]]
    doc["run"]["config"] = _round_one_config()
    assert any(e.get("manual") is True and e["reason"].startswith("beam") for e in doc["events"])
    copy_id = store.import_run(doc)
    assert store.load_events(copy_id) == events
    config = store.get_run(copy_id).config
    assert (config.evaluator, config.widening, config.max_children) == ("outcome", 0.0, 4)
