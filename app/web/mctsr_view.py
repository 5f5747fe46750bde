"""MCTSr (``SearchConfig.algorithm == "mctsr"``) as the app shows it: pure helpers, no
Streamlit.

In MCTSr every node below the root is a whole answer. The root's two children are the
model's first answer and the *dummy* answer (``engine.strategies.mctsr.DUMMY_ANSWER``); every
other node is a rewrite of its parent after a critique (``Node.critique`` is set): a
*refine edge*, drawn dashed and labelled ``refine``. The numbers shown come from the events
and the tree (the sampled rewards, the stored reward value, ``Backpropagated.q_after``);
``(min + mean) / 2`` is only written out from the stored samples, beside the engine's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.core.config import SearchConfig
from engine.core.events import Backpropagated, Event, Selected, Simulated
from engine.core.tree import Node

REFINE_COLOUR = "#2c7fb8"
"""A refine edge (a rewrite after a critique) and its label."""
DUMMY_COLOUR = "#7f7f7f"
"""The dummy answer's border."""
CRITIQUE_CHARS = 160
"""How much of a critique an edge's tooltip quotes."""


def is_mctsr(config: SearchConfig) -> bool:
    return config.algorithm == "mctsr"


def rule_name(config: SearchConfig) -> str:
    """The name of the run's selection score, as labels and tables print it."""
    return "mctsr" if is_mctsr(config) else config.selection


def rule_label(rule: str) -> str:
    """``uct`` -> ``UCT``; ``mctsr`` -> ``MCTSr UCT`` (MCTSr's own UCT, with N + eps)."""
    return "MCTSr UCT" if rule == "mctsr" else rule.upper()


def is_refine(node: Node) -> bool:
    """Whether ``node`` is a rewrite of its parent after a critique (a refine edge)."""
    return node.critique is not None


def is_dummy(node: Node) -> bool:
    """Whether ``node`` is MCTSr's dummy answer (the engine marks it a placeholder)."""
    return node.placeholder


def refine_edge(node: Node) -> dict[str, Any] | None:
    """The vis-network options of the edge into ``node`` when it is a refine edge."""
    if node.critique is None:
        return None
    critique = " ".join(node.critique.split())
    if len(critique) > CRITIQUE_CHARS:
        critique = critique[:CRITIQUE_CHARS] + "…"
    return {"dashes": [10, 5], "color": REFINE_COLOUR, "width": 2.5, "label": "refine",
            "refine": True,
            "font": {"size": 11, "color": REFINE_COLOUR, "strokeWidth": 3,
                     "strokeColor": "#ffffff", "align": "middle"},
            "title": f"refine: #{node.id} rewrites #{node.parent} after the critique: "
                     f"{critique}"}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def reward_arithmetic(rewards: Sequence[float]) -> str:
    """``Q = (min + mean) / 2 = (a + b) / 2 = c`` written out from the stored samples (for
    display; the engine's value is shown beside it)."""
    low, avg = min(rewards), mean(rewards)
    return (f"Q = (min + mean) / 2 = ({low:.3f} + {avg:.3f}) / 2 = "
            f"{(low + avg) / 2:.3f}")


def samples_text(rewards: Sequence[float]) -> str:
    return ", ".join(f"{r:g}" for r in rewards)


def tooltip_lines(node: Node) -> list[str]:
    """What a node's tooltip adds under MCTSr: dummy, critique, rewards and backed-up Q."""
    lines = []
    if is_dummy(node):
        lines.append("the dummy answer (MCTSr): worth 0; refining it asks the model for a "
                     "fresh attempt")
    if node.critique is not None:
        lines.append(f"refine of #{node.parent} after the critique: "
                     f"{' '.join(node.critique.split())}")
    if node.rewards:
        lines.append(f"self-rewards {samples_text(node.rewards)}: "
                     f"{reward_arithmetic(node.rewards)}")
    if node.backed_q is not None:
        lines.append(f"Q after MCTSr's backup = {node.backed_q:.3f}")
    return lines


def previous_q(history: Sequence[Event], iteration: int, node_id: int) -> float | None:
    """``node_id``'s Q as the last backup before iteration ``iteration`` left it
    (``Backpropagated.q_after``), or ``None`` when no earlier backup reached it."""
    for event in reversed(history):
        if isinstance(event, Backpropagated) and event.iteration < iteration and \
                event.q_after is not None and node_id in event.path:
            return event.q_after[event.path.index(node_id)]
    return None


def last_candidates(history: Sequence[Event]) -> Selected | None:
    """The latest MCTSr selection (the one that carries every node's score)."""
    return next((e for e in reversed(history)
                 if isinstance(e, Selected) and e.candidates), None)


def last_simulation(history: Sequence[Event], node_id: int) -> Simulated | None:
    """The latest simulation of ``node_id`` (its sampled rewards and the stored value)."""
    return next((e for e in reversed(history)
                 if isinstance(e, Simulated) and e.node == node_id), None)


def legend_marks(swatch: str) -> list[tuple[str, str]]:
    """The legend's MCTSr entries: the refine edge and the dummy answer."""
    return [
        (f"display: inline-block; width: 22px; height: 0; vertical-align: middle; "
         f"margin-right: 3px; border-top: 3px dashed {REFINE_COLOUR}",
         "MCTSr refine: a rewrite of its parent after a critique (dashed, labelled refine)"),
        (swatch + f"background: {DUMMY_COLOUR}; clip-path: "
         "polygon(25% 0, 75% 0, 100% 50%, 75% 100%, 25% 100%, 0 50%)",
         "MCTSr dummy answer, worth 0 (grey hexagon)"),
    ]
