"""Importing hostile or broken export files: one-line errors, and nothing written."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from storage_support import DbFactory, LiveRun, copy_store, db_dump

from storage import StorageError, open_store
from storage.transfer import MAX_EVENTS, MAX_FILE_BYTES, parse_export, read_export_file

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def exported(live_run: LiveRun) -> Doc:
    return open_store(str(live_run.db)).export_run(live_run.run_id)


def _first(doc: Doc, phase: str, *, manual: bool = False) -> Doc:
    """The first event of ``phase`` (an expansion with children; ``manual``: one added
    outside the four-phase cycle)."""
    return next(e for e in doc["events"]
                if e["phase"] == phase and (e.get("origin", "phase") != "phase") == manual
                and (phase != "expand" or e["children"]))


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        target = doc
        *parents, last = path.split(".")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return change


def _dangling_parent(doc: Doc) -> None:
    _first(doc, "expand")["node"] = 999


def _wrong_child_id(doc: Doc) -> None:
    _first(doc, "expand")["children"][0]["id"] = 77


def _wrong_phase_order(doc: Doc) -> None:
    events = doc["events"]
    events[1], events[2] = events[2], events[1]


def _wrong_event_type(doc: Doc) -> None:
    _first(doc, "expand")["children"][0]["terminal"] = "yes"


def _unknown_event_field(doc: Doc) -> None:
    _first(doc, "simulate")["extra"] = 1


def _truncated(doc: Doc) -> None:
    del doc["events"][-4:]


def _unsound_values(doc: Doc) -> None:
    for event in doc["events"]:
        if event["phase"] == "backprop":
            event["value"] = 7.5
    for event in doc["events"]:
        if event["phase"] == "simulate":
            event["rollout"]["value"] = 7.5


def _too_many_events(doc: Doc) -> None:
    doc["events"] = [doc["events"][0]] * (MAX_EVENTS + 1)


def _deep(doc: Doc) -> None:
    nested: Any = []
    for _ in range(200):
        nested = [nested]
    doc["run"]["title"] = nested


HOSTILE: list[tuple[str, Callable[[Doc], None], str]] = [
    ("wrong format", _set("format", "something-else"), "not an MCTS Lab export"),
    ("newer version", _set("version", 3), "version 3, written by a newer MCTS Lab"),
    ("version as text", _set("version", "1"), "version must be a whole number"),
    ("extra key", _set("comment", "hi"), "unknown keys: comment"),
    ("events not a list", _set("events", {"0": 1}), "events must be a list"),
    ("huge string", _set("run.problem", "4" * 100_001), "100001 characters; the limit is "
     "100000"),
    ("huge key", _set("run." + "k" * 100_001, 1), "characters; the limit is 100000"),
    ("wrong run type", _set("run.iterations_done", "30"), "iterations_done"),
    ("unknown run field", _set("run.colour", "red"), "colour"),
    ("bad status", _set("run.status", "sleeping"), "status"),
    ("bad config", _set("run.config.children", 0), "search settings are not valid"),
    ("unknown config key", _set("run.config.turbo", True), "search settings are not valid"),
    ("bad problem", _set("run.problem", "not a puzzle"), "problem is not valid"),
    ("seed disagrees", _set("run.seed", 4), "disagrees with its settings"),
    ("dangling parent", _dangling_parent, "does not fit the tree"),
    ("wrong node id", _wrong_child_id, "does not fit the tree"),
    ("wrong phase order", _wrong_phase_order, "event seq 1 does not fit the tree "
     "(expected a expand event, got simulate)"),
    ("wrong event field type", _wrong_event_type,
     "event seq 1 is malformed: expected true or false"),
    ("unknown event field", _unknown_event_field, "wrong type or unknown fields"),
    ("event not an object", _set("events.3", [1, 2]), "event seq 3 is not an object"),
    ("malformed event", _set("events.0.phase", "ponder"), "event seq 0 is malformed"),
    ("truncated events", _truncated, "the file is incomplete or edited"),
    ("values out of range", _unsound_values, "unsound tree"),
    ("too many events", _too_many_events, f"the limit is {MAX_EVENTS}"),
    ("huge number", _set("run.seed", 10**30), "too large"),
    ("non-finite number", _set("run.config.temperature", float("nan")), "not finite"),
    ("deep nesting", _deep, "nests deeper than"),
    ("not an object", lambda doc: doc.clear(), "not an MCTS Lab export"),
]


@pytest.mark.parametrize(("name", "spoil", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_documents_are_refused_and_nothing_is_written(
    exported: Doc, live_run: LiveRun, tmp_path: Path, name: str,
    spoil: Callable[[Doc], None], expected: str,
) -> None:
    store, db = copy_store(live_run, tmp_path)
    before = db_dump(db)
    doc = copy.deepcopy(exported)
    spoil(doc)
    with pytest.raises(StorageError) as err:
        store.import_run(doc)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message and len(message) < 400
    assert db_dump(db) == before
    assert store.tree_at(1) == live_run.live_after_iteration[-1]


def test_an_untouched_export_imports(exported: Doc, live_run: LiveRun, tmp_path: Path) -> None:
    # The control for the test above: the same document, unspoilt, is accepted.
    store, _ = copy_store(live_run, tmp_path)
    new_id = store.import_run(copy.deepcopy(exported))
    assert store.tree_at(new_id) == live_run.live_after_iteration[-1]


def test_running_run_imports_as_interrupted(exported: Doc, new_db: DbFactory) -> None:
    doc = copy.deepcopy(exported)
    doc["run"]["status"] = "running"
    store = open_store(new_db())
    info = store.get_run(store.import_run(doc))
    assert info.status == "interrupted" and info.owner_pid is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"format": "mctslab-run", "version": 1, "run": {}, "events": [NaN]}',
         "NaN is not a number JSON allows"),
        (b"{not json", "not JSON: Expecting property name"),
        (b"\xff\xfe\x00binary", "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "not an MCTS Lab export"),
    ],
    ids=["nan", "not json", "binary", "deep brackets"],
)
def test_unreadable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(StorageError, match=expected) as err:
        read_export_file(path)
    assert "\n" not in str(err.value)


def test_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used, no time spent
    with pytest.raises(StorageError, match="an export may be at most 200 MB"):
        read_export_file(path)


def test_uploaded_bytes_get_the_same_checks() -> None:
    with pytest.raises(StorageError, match="upload.json is not an MCTS Lab export"):
        parse_export(b"[" * 100_000, "upload.json")
    with pytest.raises(StorageError, match="an export may be at most 200 MB"):
        parse_export(b" " * (MAX_FILE_BYTES + 1))
    assert parse_export(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot read .*nope.json: No such file"):
        read_export_file(tmp_path / "nope.json")


def test_export_file_round_trip(exported: Doc, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(exported))
    assert read_export_file(path) == exported
    assert os.path.getsize(path) < MAX_FILE_BYTES
