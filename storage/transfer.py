"""Export and import of one run as a JSON document.

    {"format": "mctslab-run", "version": 2,
     "run": {title, problem, task, model_name, model_fingerprint, config, seed, status,
             iterations_done, best_answer, solved, parent_run_id, fork_iteration,
             created_at, updated_at, schema_version, id, user_name},
     "events": [engine.core.events.event_to_dict(event), ...]}   # in order

An import is checked completely before anything is written: the envelope, every size
limit, every field's type, the settings, every event's shape, and that the events fold
into a sound tree. The first problem found is reported in one line.

Version 1 exports (event format 1, ``Expanded.manual``) are still imported: their events are
upgraded with ``engine.core.event_formats.upgrade_event_dict`` before they are checked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.core.config import SearchConfig, make_config, upgrade_v1_config
from engine.core.event_formats import upgrade_event_dict
from engine.core.events import Event, event_from_dict, event_to_dict
from engine.core.tree import best_answer, check_invariants
from engine.errors import InputError
from engine.tasks import make_task
from storage.errors import StorageError
from storage.replay import fold_or_fail

FORMAT = "mctslab-run"
VERSION = 2
"""The export version written; it equals the event format of its events."""
READABLE_VERSIONS = (1, 2)
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_STRING_CHARS = 100_000
MAX_EVENTS = 1_000_000
MAX_NESTING = 32
"""Event payloads nest about six deep; anything far deeper is not ours."""
_INT_LIMIT = 2**63 - 1
"""Integers must fit a database column."""


class ExportedRun(BaseModel):
    """The ``run`` object of an export: the run's columns, strictly typed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: int | None = None
    """The run's id in the database it came from (not kept: an import gets a new id)."""
    title: str | None = None
    problem: str = Field(min_length=1)
    task: str
    model_name: str
    model_fingerprint: str
    config: dict[str, Any]
    seed: int
    status: Literal["running", "paused", "finished", "failed", "interrupted"]
    iterations_done: int = Field(ge=0)
    best_answer: str | None = None
    solved: bool | None = None
    parent_run_id: int | None = None
    fork_iteration: int | None = None
    created_at: datetime = Field(strict=False)
    updated_at: datetime = Field(strict=False)
    schema_version: int = Field(ge=1)
    user_name: str | None = None
    """Who made the run (absent from exports written before it was recorded)."""


@dataclass(frozen=True)
class CheckedImport:
    """A document that passed every check, ready to insert."""

    config: SearchConfig
    columns: dict[str, Any]
    """The ``runs`` columns other than the id and config."""
    events: list[Event]


def export_document(info: Any, payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """The export of a run (``RunInfo``) whose stored event payloads are ``payloads``."""
    run = {
        "id": info.id, "title": info.title, "problem": info.problem, "task": info.task,
        "model_name": info.model_name, "model_fingerprint": info.model_fingerprint,
        "config": info.config.model_dump(mode="json"), "seed": info.seed,
        "status": info.status, "iterations_done": info.iterations_done,
        "best_answer": info.best_answer, "solved": info.solved,
        "parent_run_id": info.parent_run_id, "fork_iteration": info.fork_iteration,
        "created_at": info.created_at.isoformat(), "updated_at": info.updated_at.isoformat(),
        "schema_version": info.schema_version, "user_name": info.user_name,
    }
    return {"format": FORMAT, "version": VERSION, "run": run, "events": payloads}


def read_export_file(path: str | Path) -> Any:
    """The parsed JSON of an export file, refusing files over the size limit, non-JSON and
    the non-standard constants NaN and Infinity."""
    file = Path(path)
    try:
        size = file.stat().st_size
        _check_size(size, str(file))
        data = file.read_bytes()
    except OSError as err:
        raise StorageError(f"cannot read {file}: {err.strerror or err}") from None
    return parse_export(data, str(file))


def parse_export(data: bytes, name: str = "the file") -> Any:
    """The parsed JSON of an export's bytes (an upload, say), with the checks of
    ``read_export_file``; then give it to ``RunStore.import_run``."""
    _check_size(len(data), name)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise StorageError(f"{name} is not an MCTS Lab export (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        raise StorageError(f"{name} is not an MCTS Lab export (not JSON: {err.msg} at line "
                           f"{err.lineno} column {err.colno})") from None
    except (ValueError, RecursionError) as err:
        raise StorageError(f"{name} is not an MCTS Lab export ({_first_line(err)})") from None


def _check_size(size: int, name: str) -> None:
    if size > MAX_FILE_BYTES:
        raise StorageError(f"{name} is {size / 2**20:.0f} MB; an export may be at most "
                           f"{MAX_FILE_BYTES // 2**20} MB")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def validate_document(doc: Any) -> CheckedImport:
    """Check an export document completely; raise ``StorageError`` at the first problem."""
    _check_envelope(doc)
    _check_values(doc)
    try:
        run = ExportedRun.model_validate(doc["run"])
    except ValidationError as err:
        raise StorageError("the file's run is not valid: " + _pydantic_errors(err)) from None
    try:
        stored = run.config if doc["version"] >= 2 else upgrade_v1_config(run.config)
        config = make_config(**stored)
    except InputError as err:
        raise StorageError(f"the file's search settings are not valid: {err}") from None
    if config.task != run.task or config.seed != run.seed:
        raise StorageError("the file's run disagrees with its settings (task or seed)")
    try:
        task = make_task(config.task, run.problem, config.reference_answer)
    except InputError as err:
        raise StorageError(f"the file's problem is not valid: {err}") from None
    if task.problem != run.problem:
        raise StorageError(f"the file's problem {run.problem[:60]!r} is not in the form the "
                           f"{config.task} task writes ({task.problem[:60]!r})")
    events = _decode_events(doc["events"], doc["version"])
    tree = fold_or_fail(run.problem, events, "the file's events")
    problems = check_invariants(tree)
    if problems:
        raise StorageError(f"the file's events give an unsound tree: {problems[0]}")
    if tree.iterations_done != run.iterations_done:
        raise StorageError(f"the file says {run.iterations_done} iterations but its events "
                           f"hold {tree.iterations_done}; the file is incomplete or edited")
    answer, verdict = best_answer(tree)
    columns = {
        "title": run.title, "problem": run.problem, "task": run.task,
        "model_name": run.model_name, "model_fingerprint": run.model_fingerprint,
        # No process is writing an imported run: a run exported mid-way can be resumed.
        "status": "interrupted" if run.status == "running" else run.status,
        "iterations_done": tree.iterations_done, "best_answer": answer, "solved": verdict,
        "owner_pid": None, "owner_host": None,
        "created_at": _naive_utc(run.created_at), "updated_at": _naive_utc(run.updated_at),
        "user_name": run.user_name,
    }
    return CheckedImport(config=config, columns=columns, events=events)


def _check_envelope(doc: Any) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StorageError(f"not an MCTS Lab export (expected a JSON object with format "
                           f"{FORMAT!r})")
    version = doc.get("version")
    if type(version) is not int:
        raise StorageError(f"the export's version must be a whole number, not {version!r}")
    if version > VERSION:
        raise StorageError(f"the export is version {version}, written by a newer MCTS Lab; "
                           "upgrade mctslab")
    if version not in READABLE_VERSIONS:
        raise StorageError(f"unknown export version {version}; this MCTS Lab reads "
                           f"versions {', '.join(map(str, READABLE_VERSIONS))}")
    extra = set(doc) - {"format", "version", "run", "events"}
    if extra:
        raise StorageError(f"the export has unknown keys: {', '.join(sorted(map(str, extra)))}")
    if not isinstance(doc.get("run"), dict):
        raise StorageError("the export's run must be an object")
    events = doc.get("events")
    if not isinstance(events, list):
        raise StorageError("the export's events must be a list")
    if len(events) > MAX_EVENTS:
        raise StorageError(f"the export has {len(events)} events; the limit is {MAX_EVENTS}")


def _check_values(doc: dict[str, Any]) -> None:
    """Every value JSON-typed, every string within the limit, numbers finite and storable,
    nesting bounded; checked without recursion so hostile nesting cannot crash us."""
    for value, depth, where in _walk(doc):
        if depth > MAX_NESTING:
            raise StorageError(f"the export nests deeper than {MAX_NESTING} levels at {where}")
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                raise StorageError(f"a string at {where} has {len(value)} characters; the "
                                   f"limit is {MAX_STRING_CHARS}")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > _INT_LIMIT:
                raise StorageError(f"the number at {where} is too large")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise StorageError(f"the number at {where} is not finite")
        elif not isinstance(value, dict | list):
            raise StorageError(f"the value at {where} is a {type(value).__name__}, not JSON")


def _walk(doc: Any) -> Iterator[tuple[Any, int, str]]:
    stack: list[tuple[Any, int, str]] = [(doc, 0, "$")]
    while stack:
        value, depth, where = stack.pop()
        yield value, depth, where
        if depth >= MAX_NESTING + 1:
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise StorageError(f"a key at {where} is not a string")
                yield key, depth + 1, f"{where} (a key)"
                stack.append((item, depth + 1, f"{where}.{key[:40]}"))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(value))


def _decode_events(raw_events: list[Any], version: int) -> list[Event]:
    events: list[Event] = []
    for seq, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            raise StorageError(f"event seq {seq} is not an object")
        raw = upgrade_event_dict(raw, version)
        try:
            event = event_from_dict(raw)
        except ValueError as err:
            raise StorageError(f"event seq {seq} is malformed: {err}") from None
        # event_from_dict converts loosely (str(), bool()); the document must already hold
        # exactly what event_to_dict writes, with nothing missing or extra.
        if _plain(event_to_dict(event)) != raw:
            raise StorageError(f"event seq {seq} has fields of the wrong type or unknown "
                               "fields")
        events.append(event)
    return events


def _plain(value: Any) -> Any:
    """``asdict`` output with tuples as lists, as it reads back from JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _pydantic_errors(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        where = ".".join(str(x) for x in e["loc"]) or "run"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def _first_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]
