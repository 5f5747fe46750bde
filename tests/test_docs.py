"""The docs agree with themselves (issue 12, #18): every benchmark table is generated from
the one saved run of its benchmark, and every training command quotes the checkpoint's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.bench.doc_tables import DOCS, TABLES, blocks, rendered

ROOT = Path(__file__).resolve().parents[1]
MODEL_CARD = ROOT / "assets" / "models" / "game24-demo" / "README.md"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_every_bench_table_is_its_saved_json(doc: Path) -> None:
    text = doc.read_text("utf-8")
    assert blocks(text), f"{doc.name} quotes no generated benchmark table"
    assert set(blocks(text)) <= set(TABLES)
    assert rendered(text) == text, (f"a table in {doc.name} differs from docs/bench/*.json: "
                                    "run `python -m app.bench.doc_tables render`")


def test_the_tables_are_where_the_docs_say() -> None:
    names = {doc.name: blocks(doc.read_text("utf-8")) for doc in DOCS}
    assert names == {"README.md": ["cost", "app"], "app.md": ["app"], "RESULTS.md": ["cost"]}


def _flags(command: str) -> dict[str, str]:
    return dict(re.findall(r"--(steps|minutes|seed) (\S+)", command))


def test_training_commands_quote_the_checkpoints_own() -> None:
    card = " ".join(MODEL_CARD.read_text("utf-8").split())
    trained = _flags(re.search(r"Command: `(mctslab train-demo-model [^`]*)`", card).group(1))  # type: ignore[union-attr]
    assert trained == {"steps": "4000", "minutes": "20", "seed": "0"}
    for doc in (ROOT / "README.md", *DOCS[1:]):
        for command in re.findall(r"mctslab train-demo-model[^`\n|]*", doc.read_text("utf-8")):
            flags = _flags(command)
            assert flags.items() <= trained.items(), (doc.name, command)
