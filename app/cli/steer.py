"""``mctslab steer``: steer a saved run by hand, as the Search page does: write a step under a
node, pin or unpin a node's value, prune or restore a subtree. One action per call, saved as
one event of the run (``engine.strategies.steer``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli import add_common, add_model, load_model


def register(sub: Any) -> None:
    steer = sub.add_parser(
        "steer", help="steer a saved run by hand: write a step, pin, prune, restore",
        description="One action by hand on a saved MCTS run, saved as an event of the run "
        "(replayed, exported and resumed with it). `mctslab replay RUN --json` shows the "
        "node ids.",
    )
    steer.add_argument("run_id", type=int, metavar="RUN_ID")
    action = steer.add_mutually_exclusive_group(required=True)
    action.add_argument("--step", nargs=2, metavar=("NODE", "TEXT"),
                        help="write TEXT as a new step under node NODE, scored by the model")
    action.add_argument("--pin", metavar="NODE=VALUE",
                        help="selection uses VALUE (0 to 1) as node NODE's Q")
    action.add_argument("--unpin", type=int, metavar="NODE", help="remove NODE's pin")
    action.add_argument("--prune", type=int, metavar="NODE",
                        help="selection never enters NODE's subtree")
    action.add_argument("--restore", type=int, metavar="NODE",
                        help="open a pruned subtree again")
    add_model(steer, "default: the run's")
    add_common(steer)
    steer.set_defaults(handler=_steer)


def _node(text: str) -> int:
    from engine.errors import InputError

    try:
        return int(text)
    except ValueError:
        raise InputError(f"a node is a whole number (a node id), not {text!r}") from None


def _pin(text: str) -> tuple[int, float]:
    from engine.errors import InputError

    node, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return _node(node.strip()), float(value)
    except ValueError:
        raise InputError(f"--pin takes NODE=VALUE, e.g. 5=0.9, not {text!r}") from None


def _action(args: argparse.Namespace) -> tuple[str, int, Any]:
    """(action, node, its value or step text), checked before any model is loaded."""
    if args.step is not None:
        return "step", _node(args.step[0]), args.step[1]
    if args.pin is not None:
        return ("pin", *_pin(args.pin))
    for action in ("unpin", "prune", "restore"):
        if getattr(args, action) is not None:
            return action, getattr(args, action), None
    raise AssertionError("argparse requires one action")


def _steer(args: argparse.Namespace) -> int:
    from app.runs.resume import resume_search
    from engine.core.events import event_to_dict
    from engine.core.tree import best_answer
    from storage import open_store

    action, node, value = _action(args)
    store = open_store(args.db)
    info = store.get_run(args.run_id)
    model = load_model(args, info.model_name)
    search = resume_search(store, args.run_id, model)
    try:
        event = search.add_user_step(node, value) if action == "step" else \
            search.steer(node, action, value)  # type: ignore[arg-type]
    except BaseException:
        store.release_run(args.run_id)  # refused: nothing was applied, nothing is saved
        raise
    answer, verdict = best_answer(search.tree)
    store.append_events(args.run_id, [event], iterations_done=search.tree.iterations_done,
                        best_answer=answer, solved=verdict, release=True)
    if args.json:
        print(json.dumps({"run_id": args.run_id, "event": event_to_dict(event)}))
    elif event.phase == "steer":
        pinned = "" if event.value is None else f" at {event.value:g}"
        print(f"run {args.run_id}: {event.action} #{event.node}{pinned}")
    else:
        child = event.children[0]
        said = {True: "correct", False: "wrong", None: "not verified"}[child.verdict]
        status = f"dead: {child.dead}" if child.dead else (
            f"answer {child.answer} ({said})" if child.terminal else "open")
        print(f"run {args.run_id}: added #{child.id} under #{event.node} "
              f"(log p {child.prior:.2f}; {status})")
    return 0
