"""MCTSr's four phases in plain words, with the run's own numbers (pure: Markdown strings).

Every number comes from an event or the tree: the candidates' scores from
``Selected.candidates`` (N_parent is the parent's own entry there, its visits when it was
scored), the critique and rewrite from ``Expanded``, the sampled rewards and their value from
``Simulated``, each path node's new Q from ``Backpropagated.q_after`` (its Q before from the
previous backup through it). The arithmetic written beside them (``(min + mean) / 2``,
``(Q + max child Q) / 2``) only spells out the rule; the bold number is the engine's.
Text from the model goes in code spans (``literal``).
"""

from __future__ import annotations

from collections.abc import Sequence

from app.web.graph import format_score
from app.web.markup import literal
from app.web.mctsr_view import (
    is_dummy,
    mean,
    previous_q,
    reward_arithmetic,
    samples_text,
)
from engine.core.config import SearchConfig
from engine.core.events import (
    ROOT_ID,
    Backpropagated,
    Event,
    Expanded,
    ScoreBreakdown,
    Selected,
    Simulated,
)
from engine.core.mctsr import answer_q
from engine.core.tree import Tree
from engine.strategies.mctsr import DUMMY_ANSWER

UCT_FORMULA = "Q + c·√(ln(N_parent + 1) / (N + ε))"
QUOTE_CHARS = 300
"""The most of an answer the panel quotes (the inspector shows all of it)."""


def explain(tree: Tree, event: Event, config: SearchConfig,
            history: Sequence[Event] = ()) -> str:
    """What MCTSr's ``event`` (already applied to ``tree``) did; ``history``: the run's
    events (a backup's Q before is read from the previous one)."""
    if isinstance(event, Selected):
        return explain_selection(tree, event, config)
    if isinstance(event, Expanded):
        return explain_expansion(tree, event)
    if isinstance(event, Simulated):
        return explain_simulation(event)
    if not isinstance(event, Backpropagated):  # steering by hand is for MCTS runs
        raise ValueError(f"an MCTSr run has no {event.phase} event")
    return explain_backprop(tree, event, history)


def parent_visits(tree: Tree, score: ScoreBreakdown,
                  scores: Sequence[ScoreBreakdown]) -> int:
    """N_parent of a scored node: its parent's visits in the same breakdown (0 for the
    root)."""
    parent = tree.nodes[score.child].parent
    if parent is None:
        return 0
    return next((s.visits for s in scores if s.child == parent), tree.nodes[parent].visits)


def uct_formula(score: ScoreBreakdown, n_parent: int, config: SearchConfig) -> str:
    """One candidate's MCTSr UCT written out with its inputs and the engine's terms."""
    return (f"{score.exploitation:.3f} + {config.exploration:g}·√(ln({n_parent} + 1) / "
            f"({score.visits} + {config.refine_epsilon:g})) = {score.exploitation:.3f} + "
            f"{format_score(score.exploration)} = **{format_score(score.total)}**")


def explain_selection(tree: Tree, event: Selected, config: SearchConfig) -> str:
    chosen = event.path[-1]
    if chosen == ROOT_ID:
        return ("**Selection** (MCTSr): the tree is only the problem, so MCTSr starts there: "
                "the root is expanded once, into the model's first answer and the dummy "
                f"answer {literal(DUMMY_ANSWER)}.")
    scores = event.candidates
    winner = next(s for s in scores if s.child == chosen)
    n_parent = parent_visits(tree, winner, scores)
    open_ids = [s.child for s in scores if s.excluded is None]
    parts = [
        f"**Selection** (MCTSr) compares every answer in the tree at once (it does not "
        f"descend level by level) by UCT = {UCT_FORMULA}, with c = {config.exploration:g} "
        f"and ε = {config.refine_epsilon:g}, and takes the best of the {len(open_ids)} "
        f"candidate(s): **#{chosen}** (path {' → '.join(f'#{n}' for n in event.path)}).",
        f"The winner #{chosen}: Q = {winner.exploitation:.3f}, N = {winner.visits}, "
        f"N_parent = {n_parent}, ε = {config.refine_epsilon:g}: score = "
        f"{uct_formula(winner, n_parent, config)}.",
    ]
    lines = ["Every node's score (the excluded ones say why they are no candidates):"]
    for s in scores:
        if s.excluded is not None:
            lines.append(f"- #{s.child}: excluded: {literal(s.excluded)}")
            continue
        mark = " ← **chosen**" if s.child == chosen else ""
        lines.append(f"- #{s.child}: {uct_formula(s, parent_visits(tree, s, scores), config)}"
                     f"{mark}")
    parts.append("\n".join(lines))
    if winner.visits == 0:
        parts.append(f"#{chosen} was never visited (N = 0): ε keeps the division finite and "
                     "makes its exploration term huge, so an unvisited answer (the dummy) is "
                     "refined first.")
    return "\n\n".join(parts)


def quote(text: str) -> str:
    return literal(text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…")


def explain_expansion(tree: Tree, event: Expanded) -> str:
    if event.node == ROOT_ID and len(event.children) == 2:
        first, dummy = event.children
        return (f"**Expansion** (MCTSr) expanded the root once: #{first.id} is the model's "
                f"first answer, {quote(first.text) if first.text else '(empty)'}, and "
                f"#{dummy.id} the dummy answer {literal(dummy.text)} (worth "
                f"{dummy.value if dummy.value is not None else 0:g}, no critique). The next "
                f"phase scores #{first.id}. ({literal(event.reason)})")
    if not event.children:
        return f"**Expansion** (MCTSr) added nothing to #{event.node}: {literal(event.reason)}."
    child = event.children[0]
    whose = "the dummy answer" if is_dummy(tree.nodes[event.node]) else f"#{event.node}'s answer"
    critique = literal(child.critique) if child.critique is not None else "(none)"
    return (f"**Expansion** (MCTSr self-refine) of #{event.node}: a critique of {whose}, "
            f"{critique}, then a rewrite that uses it: the new answer #{child.id}, "
            f"{quote(child.text) if child.text else '(empty: no rewrite)'} (a refine edge "
            f"#{event.node} → #{child.id}). How: {literal(event.reason)}.")


def explain_simulation(event: Simulated) -> str:
    r = event.rollout
    if not r.rewards:
        return (f"**Simulation** (MCTSr) valued #{event.node} at **{r.value:.3f}** "
                f"({literal(r.reward)}).")
    return (f"**Simulation** (MCTSr self-reward) of #{event.node}: {len(r.rewards)} sampled "
            f"self-reward(s): {samples_text(r.rewards)} (min {min(r.rewards):.3f}, mean "
            f"{mean(r.rewards):.3f}). {reward_arithmetic(r.rewards)}; the engine's value: "
            f"**{r.value:.3f}**. How each sample was drawn: {literal(r.reward)}.")


def explain_backprop(tree: Tree, event: Backpropagated,
                     history: Sequence[Event] = ()) -> str:
    """Each path node's Q before → after (``q_after``), leaf first, with its rule."""
    assert event.q_after is not None
    path = " → ".join(f"#{n}" for n in event.path)
    lines = [f"**Backpropagation** (MCTSr) along {path}: the new answer's Q is its reward "
             f"v = {event.value:.3f}; each answer above it becomes (Q + max child Q) / 2; the "
             "root, which is no answer, takes the best child's Q. N ← N + 1 on the path."]
    after = dict(zip(event.path, event.q_after, strict=True))
    for i in range(len(event.path) - 1, -1, -1):
        node_id = event.path[i]
        node = tree.nodes[node_id]
        visits = f"N {node.visits - 1} → {node.visits}"
        if i == len(event.path) - 1:
            lines.append(f"- #{node_id}: {visits} · Q = its reward = **{after[node_id]:.3f}**")
            continue
        child_q = {c: after.get(c, answer_q(tree.nodes[c])) for c in node.children}
        best = max(child_q.values())
        listed = ", ".join(f"#{c} {q:.3f}" for c, q in child_q.items())
        if node_id == ROOT_ID:
            lines.append(f"- #{node_id} (root): {visits} · Q = max child Q = max({listed}) = "
                         f"**{after[node_id]:.3f}**")
            continue
        before = previous_q(history, event.iteration, node_id) if node.visits > 1 else \
            node.value
        if before is None:
            q = (f"Q → (Q + max child Q) / 2, max child Q = max({listed}) = {best:.3f}: "
                 f"**{after[node_id]:.3f}**")
        else:
            was = "" if node.visits > 1 else " (its value: not visited before)"
            q = (f"Q {before:.3f}{was} → (Q + max child Q) / 2 = ({before:.3f} + "
                 f"max({listed})) / 2 = ({before:.3f} + {best:.3f}) / 2 = "
                 f"**{after[node_id]:.3f}**")
        lines.append(f"- #{node_id}: {visits} · {q}")
    return "\n".join(lines)
