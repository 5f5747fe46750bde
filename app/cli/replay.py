"""``mctslab replay``: a saved run's tree at any moment, by folding its events."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from app.cli import add_db, add_json
from engine.core.events import PHASES

PHASE_CHOICES = list(PHASES)


def register(sub: Any) -> None:
    replay = sub.add_parser(
        "replay", help="show the tree of a saved run at any phase",
        description="Rebuild a saved run's tree by folding its events. Iterations count "
        "from 1: --iteration K is the tree after K completed iterations (the end of "
        "iteration K; 0 is the root alone); with --phase P, right after phase P of "
        "iteration K (--phase backprop is the end of iteration K, the same as --iteration K; "
        "--phase alone: of the last iteration). The end of the run by default. The tree is "
        "drawn depth first, each node under its parent, with the path the shown iteration "
        "selected and the children it added marked.",
    )
    replay.add_argument("run_id", type=int, metavar="RUN_ID")
    replay.add_argument("--iteration", type=int, default=None, metavar="K",
                        help="completed iterations, or the iteration whose --phase to show "
                        "(default: the last)")
    replay.add_argument("--phase", default=None, choices=PHASE_CHOICES,
                        help="show the tree right after this phase (default: none, the end "
                        "of the iteration)")
    replay.add_argument("--rollouts", action="store_true",
                        help="list each node's rollouts (text, value, reward) under it "
                        "(default: off)")
    add_db(replay)
    add_json(replay)
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from engine.core.report import nodes_report, search_summary, tree_label, tree_moment
    from engine.tasks.answers import answer_fields, label_answer
    from storage import open_store
    from storage.replay import fold_or_fail

    store = open_store(args.db)
    info = store.get_run(args.run_id)
    events = store.events_at(args.run_id, iteration=args.iteration, phase=args.phase)
    tree = fold_or_fail(info.problem, events, f"run {args.run_id}")
    iteration, phase = tree_moment(tree)
    summary = search_summary(tree)
    label = label_answer(info.task, tree.problem, summary["best_answer"], summary["solved"],
                         info.config.reference_answer)
    step = iteration_step(events, iteration)
    if args.json:
        print(json.dumps({
            "run_id": args.run_id, "iteration": iteration, "phase": args.phase or phase,
            "moment": tree_label(tree),
            "iterations_done": tree.iterations_done, "next_phase": tree.next_phase,
            "events": tree.events_applied, "best_answer": summary["best_answer"],
            "solved": summary["solved"], **answer_fields(label), "tokens": summary["tokens"],
            "selected_path": step.path, "added": step.added,
            "nodes": nodes_report(tree, info.config),
        }))
        return 0
    print(f"run {args.run_id}: {tree.problem}  "
          f"{tree_label(tree)}  ({len(tree.nodes)} nodes, "
          f"{tree.events_applied} events)")
    print(label.line)
    print(step.describe(iteration))
    for line in tree_lines(tree, info.config, step, rollouts=args.rollouts, task=info.task):
        print(line)
    return 0


class Step:
    """What the shown iteration did up to the moment shown, read from its events."""

    def __init__(self, events: Sequence[Any]) -> None:
        from engine.core.events import Backpropagated, Expanded, Selected, Simulated, Steered

        self.steered: list[str] = []
        """Pins, prunes and the like by hand (``Steered``), in words."""
        self.path: list[int] = []
        self.added: list[int] = []
        self.expanded: int | None = None
        self.by_hand: list[int] = []
        self.simulated: tuple[int, float] | None = None
        self.backed_up: list[int] = []
        for event in events:
            if isinstance(event, Steered):
                pinned = "" if event.value is None else f" at {event.value:g}"
                self.steered.append(f"{event.action} #{event.node}{pinned}")
            elif isinstance(event, Selected):
                self.path = list(event.path)
            elif isinstance(event, Expanded) and not event.in_cycle:
                self.by_hand += [c.id for c in event.children]
            elif isinstance(event, Expanded):
                self.expanded = event.node
                self.added = [c.id for c in event.children]
            elif isinstance(event, Simulated):
                self.simulated = (event.node, event.rollout.value)
            elif isinstance(event, Backpropagated):
                self.backed_up = list(event.path)

    def describe(self, iteration: int) -> str:
        """One line: the path selected, the children added, the simulation, the backup."""
        if not self.path and not self.by_hand and not self.steered:
            return "the start: the root alone, no iteration yet"
        parts = []
        if self.path:
            parts.append("selected " + _ids(self.path))
        if self.expanded is not None:
            parts.append(f"expanded #{self.expanded}: "
                         + (f"added {', '.join(f'#{i}' for i in self.added)}" if self.added
                            else "added nothing new"))
        if self.simulated is not None:
            parts.append(f"simulated #{self.simulated[0]} (value {self.simulated[1]:.3f})")
        if self.backed_up:
            parts.append("backed up along " + _ids(self.backed_up))
        if self.by_hand:
            parts.append("added outside the cycle: " + ", ".join(f"#{i}" for i in self.by_hand))
        if self.steered:
            parts.append("by hand: " + ", ".join(self.steered))
        where = f"iteration {iteration}" if self.path else f"after {iteration} iterations"
        return f"{where}: " + "; ".join(parts)


def _ids(path: Sequence[int]) -> str:
    return " → ".join(f"#{i}" for i in path)


def iteration_step(events: Sequence[Any], iteration: int) -> Step:
    """The shown iteration's events (``iteration`` is 1-based, as ``moment`` gives it),
    with the expansions outside the cycle that follow them."""
    from engine.core.report import event_iteration
    from storage.replay import out_of_cycle

    target = event_iteration(iteration)
    start = len(events)
    while start > 0:
        event = events[start - 1]
        if not out_of_cycle(event) and event.iteration != target:
            break
        start -= 1
    return Step(events[start:])


def tree_lines(tree: Any, config: Any, step: Step, *, rollouts: bool, task: str) -> list[str]:
    """The tree depth first, each child directly under its parent (``#5 (parent #1)``, with
    tree-drawing prefixes), nodes of the selected path and added children marked; with
    ``rollouts``, each node's rollouts under it."""
    from engine.core.report import nodes_report
    from engine.tasks.answers import label_answer

    rows = {row["id"]: row for row in nodes_report(tree, config)}
    rule = config.selection.upper()
    path, added = set(step.path), set(step.added) | set(step.by_hand)
    lines: list[str] = []

    def node_line(node_id: int, lead: str) -> str:
        row = rows[node_id]
        parent = "" if row["parent"] is None else f" (parent #{row['parent']})"
        q = "-" if row["visits"] == 0 else f"{row['q']:.3f}"
        score = "-" if row["uct"] is None else f"{row['uct']:.3f}"
        marks = [m for m, on in (("selected", node_id in path), ("added", node_id in added))
                 if on]
        answer = ""
        if row["answer"] is not None:
            answer = "  answer " + label_answer(task, tree.problem, row["answer"],
                                                row["verdict"], config.reference_answer).short
        return (f"{lead}#{node_id}{parent} {row['kind']} N={row['visits']} Q={q} "
                f"{rule}={score}{' [' + ', '.join(marks) + ']' if marks else ''} "
                f"{row['text'][:70]!r}{answer}")

    def walk(node_id: int, lead: str, below: str) -> None:
        lines.append(node_line(node_id, lead))
        node = tree.nodes[node_id]
        if rollouts:
            for number, rollout in enumerate(node.rollouts, 1):
                verdict = label_answer(task, tree.problem, rollout.answer, rollout.verdict,
                                       config.reference_answer)
                reached = verdict.short if rollout.answer is not None else "none"
                stopped = f", stopped at {rollout.stopped!r}" if rollout.stopped else ""
                lines.append(f"{below}{'│' if node.children else ' '}  ~ rollout {number}: "
                             f"reward {rollout.value:.3f} ({rollout.reward}), answer "
                             f"{reached}{stopped}: {rollout.text!r}")
        for index, child in enumerate(node.children):
            last = index == len(node.children) - 1
            walk(child, below + ("└─ " if last else "├─ "), below + ("   " if last else "│  "))

    walk(tree.root.id, "", "")
    return lines
