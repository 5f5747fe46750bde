"""Plain summaries of a tree for the CLI, storage and the app (no recomputed decisions)."""

from __future__ import annotations

import math
from typing import Any

from engine.core.config import SearchConfig
from engine.core.selection import tree_scores
from engine.core.tree import Tree, best_answer, node_summary


def nodes_report(tree: Tree, config: SearchConfig) -> list[dict[str, Any]]:
    """Every node as the replay contract's dict; ``uct`` is the node's current selection
    score under the run's rule (``null`` for the root and for an unvisited UCT child)."""
    scores = tree_scores(tree, config.selection, config.exploration)
    rows = []
    for node in tree.nodes:
        row = node_summary(node)
        score = scores.get(node.id)
        row["uct"] = score.total if score is not None and math.isfinite(score.total) else None
        rows.append(row)
    return rows


def search_summary(tree: Tree) -> dict[str, Any]:
    """Best answer, solved flag and token counts of a tree."""
    answer, verdict = best_answer(tree)
    return {
        "iterations": tree.iterations_done,
        "best_answer": answer,
        "solved": verdict,
        "tokens": {
            "forwarded": tree.tokens.forwarded,
            "unique": tree.tokens.unique,
            "generated": tree.tokens.generated,
        },
    }


def answer_label(answer: str | None, solved: bool | None, task: str) -> str:
    """A run's best answer for people: only a verified answer stands alone; a wrong or
    unverified candidate says so (``task``: the task's name, e.g. ``game24``)."""
    if answer is None:
        return "no answer"
    if solved is True:
        return answer
    if solved is False:
        return f"no verified answer (candidate {answer} is wrong)"
    why = "no reference answer to check it against" if task == "freeform" else "not verified"
    return f"no verified answer (candidate {answer}: {why})"
