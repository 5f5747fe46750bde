"""Learn: the four phases, UCT vs PUCT, the confidence reward, reflection and MCTSr, drawn
with the app's own graph on small worked examples."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app.web.graph import tree_digraph, vis_data
from app.web.graph_component import graph_component
from app.web.highlight import highlight_for
from app.web.learn_examples import (
    PROBLEM,
    REWARD,
    VOCABULARY,
    confidence_examples,
    example_events,
)
from app.web.learn_mctsr import CONFIG as MCTSR_CONFIG
from app.web.learn_mctsr import PROBLEM as MCTSR_PROBLEM
from app.web.learn_mctsr import SHOWN_ITERATION, mctsr_example_events
from app.web.mctsr_view import rule_name
from app.web.teaching import PHASE_TITLES, event_title, explain
from app.web.views import confidence_html
from engine.core.config import SearchConfig
from engine.core.events import PHASES, Event, Simulated
from engine.core.phases import scores_for
from engine.core.selection import children_scores
from engine.core.tree import fold
from engine.strategies.mctsr import DUMMY_ANSWER
from engine.tasks.reflection import REFLECTION_LINE

PICTURE_HEIGHT = 340
PHASE_WORDS = {
    "select": "From the root, repeatedly take the child with the best score (UCT or PUCT) "
              "until reaching a node with no children yet (or, with progressive widening, "
              "one due for another child).",
    "expand": "Ask the model for several candidate next steps from that node; each becomes "
              "a child. (A node visited for the first time is simulated as it is.)",
    "simulate": "Let the model continue from the new node to an answer and score it: the "
                "verifier where the task has one, else the mean token confidence.",
    "backprop": "Add the value to every node on the path: N ← N + 1, W ← W + v, Q = W / N.",
}


def picture(events: list[Event], upto: int, key: str, config: SearchConfig) -> None:
    tree = fold(PROBLEM, events[:upto])
    highlight = highlight_for(tree, events[upto - 1], events[:upto])
    graph = vis_data(tree_digraph(tree, scores_for(tree, config), highlight,
                                  rule=rule_name(config)))
    graph_component(graph, selected=None, view_key=key, key=key, height=PICTURE_HEIGHT)


def four_phases(events: list[Event], config: SearchConfig) -> None:
    st.header("The four phases")
    st.write("One iteration of Monte Carlo Tree Search is four phases. Below is iteration 3 "
             "of a small search on '4 5 6 10', one picture per phase: the orange path is "
             "what the phase walked, dashed blue borders are new children, the cyan ring is "
             "the node rolled out, and orange labels show how N and Q changed.")
    start = 12  # iteration 3 starts at event 12 (4 events per iteration)
    for offset, phase in enumerate(("select", "expand", "simulate", "backprop")):
        st.subheader(PHASE_TITLES[phase])
        st.write(PHASE_WORDS[phase])
        upto = start + offset + 1
        tree = fold(PROBLEM, events[:upto])
        left, right = st.columns([3, 2])
        with left:
            picture(events, upto, f"learn-{phase}", config)
        with right:
            st.markdown(explain(tree, events[upto - 1], config))


def uct_vs_puct(events: list[Event]) -> None:
    st.header("UCT vs PUCT")
    st.write("Both scores add an exploitation term (Q, the mean value so far) and an "
             "exploration term that shrinks as a child is visited. UCT treats every child "
             "alike: Q + c·√(ln N_parent / N), and an unvisited child scores ∞, so every "
             "child is tried once first. PUCT (AlphaGo's rule) weights exploration by the "
             "model's prior P: Q + c·P·√N_parent / (1 + N), so likely steps are tried first "
             "and unlikely ones may never be.")
    tree = fold(PROBLEM, events[:16])
    rows = []
    for rule in ("uct", "puct"):
        for s in children_scores(tree, 0, rule, 1.0):
            rows.append({"rule": rule.upper(), "child": f"#{s.child}", "N": s.visits,
                         "Q": f"{s.exploitation:.3f}" if s.visits else "—",
                         "prior P": round(s.prior, 3),
                         "exploration": round(s.exploration, 3), "score": round(s.total, 3)})
    st.caption("The root's children after 4 iterations, scored by each rule (c = 1):")
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def last_simulated(events: list[Event]) -> int:
    return next(e.node for e in reversed(events) if isinstance(e, Simulated))


def confidence_reward(events: list[Event]) -> None:
    st.header("The confidence reward")
    st.write("Without a reward model, a rollout can be scored by how sure the model was "
             "(Marco-o1): for each generated token, c = p(chosen) / Σ p(top 5), the chosen "
             "token's probability renormalised over the five most likely; the rollout's "
             "value is the mean of c over its tokens.")
    st.dataframe(pd.DataFrame([{
        "token": e.name, "p(chosen)": round(math.exp(e.chosen), 3),
        "Σ p(top 5)": round(sum(math.exp(x) for x in e.top), 3),
        "confidence c": round(e.confidence, 3),
    } for e in confidence_examples()]), hide_index=True)
    st.caption("Each row is a softmax over a toy vocabulary of "
               f"{VOCABULARY} tokens, so the five largest probabilities add up to less than 1.")
    rollout = next(e.rollout for e in reversed(events) if isinstance(e, Simulated))
    st.caption(f"The worked example's last rollout (from #{last_simulated(events)}), coloured by "
               f"confidence as the inspector shows it (value = mean = {rollout.value:.3f}):")
    st.html(confidence_html(rollout))


def reflection(events: list[Event], config: SearchConfig) -> None:
    st.header("Reflection")
    st.write(f"Appending “{REFLECTION_LINE}” "
             "after a thought makes the model critique itself and derive again. In the tree "
             "it is its own kind of branch, drawn as a purple diamond on a dashed edge. With "
             "the setting reflection = on, every unverified or wrong answer gets one; on the "
             "Search page you can add one under any node.")
    picture(events, len(events), "learn-reflection", config)


MCTSR_WORDS = {
    "select": "Score every answer in the tree at once (not level by level) by MCTSr's UCT, "
              "Q + c·√(ln(N_parent + 1) / (N + ε)), and take the best candidate. An answer "
              "is no candidate once it is fully expanded: it has the most children allowed, "
              "or a child whose Q beats its own.",
    "expand": "Self-refine the selected answer: a critique of it, then a rewrite that uses "
              "the critique. The rewrite is the one new child (a dashed refine edge).",
    "simulate": "Sample the new answer's self-reward several times; its Q is (min + mean) / "
                "2 of the samples: the mean, pulled toward the worst sample.",
    "backprop": "The new answer's Q is its reward; each answer above it becomes (Q + max "
                "child Q) / 2; the root, which is no answer, takes its best child's Q.",
}


def mctsr(events: list[Event]) -> None:
    st.header("MCTSr: Monte Carlo Tree Self-Refine")
    st.write("MCTSr (Zhang et al. 2024; the setting Algorithm = mctsr) searches over whole "
             "answers instead of steps: every node below the root is an answer, and a child "
             "is a rewrite of its parent after a critique. The root is expanded once, into "
             f"the model's first answer and the dummy answer “{DUMMY_ANSWER}” (worth 0, a "
             "grey hexagon). Below is iteration "
             f"{SHOWN_ITERATION + 1} of a small MCTSr search on '{MCTSR_PROBLEM}' (the model's "
             "answers and self-rewards are made up; every score, value and Q is the "
             "engine's), one picture per phase.")
    start = 4 * SHOWN_ITERATION
    for offset, phase in enumerate(PHASES):
        upto = start + offset + 1
        event = events[upto - 1]
        st.subheader("MCTSr " + event_title(event))
        st.write(MCTSR_WORDS[phase])
        tree = fold(MCTSR_PROBLEM, events[:upto])
        left, right = st.columns([3, 2])
        with left:
            picture(events, upto, f"learn-mctsr-{phase}", MCTSR_CONFIG)
        with right:
            st.markdown(explain(tree, event, MCTSR_CONFIG, events[:upto]))


def main() -> None:
    st.title("Learn")
    # The worked example selects without widening and values rollouts by confidence.
    config = SearchConfig(widening=0.0, reward=REWARD)
    events = example_events()
    four_phases(events, config)
    uct_vs_puct(events)
    confidence_reward(events)
    reflection(events, config)
    mctsr(mctsr_example_events())


main()
