"""Learn: the four phases, UCT vs PUCT, the confidence reward and reflection, drawn with
the app's own graph on a small worked example."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app.web.graph import highlight_for, tree_digraph, vis_data
from app.web.graph_component import graph_component
from app.web.learn_examples import PROBLEM, example_events
from app.web.teaching import PHASE_TITLES, explain
from app.web.views import confidence_html
from engine.core.config import SearchConfig
from engine.core.events import Event, Rollout
from engine.core.phases import closed_for
from engine.core.rewards import token_confidence
from engine.core.selection import children_scores, tree_scores
from engine.core.tree import fold
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
    scores = tree_scores(tree, config.selection, config.exploration, closed_for(tree, config))
    graph = vis_data(tree_digraph(tree, scores, highlight_for(tree, events[upto - 1]),
                                  rule=config.selection))
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
                         "Q": round(s.exploitation, 3), "prior P": round(s.prior, 3),
                         "exploration": round(s.exploration, 3), "score": round(s.total, 3)})
    st.caption("The root's children after 4 iterations, scored by each rule (c = 1):")
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def confidence_reward() -> None:
    st.header("The confidence reward")
    st.write("Without a reward model, a rollout can be scored by how sure the model was "
             "(Marco-o1): for each generated token, c = p(chosen) / Σ p(top 5), the chosen "
             "token's probability renormalised over the five most likely; the rollout's "
             "value is the mean of c over its tokens.")
    examples = [("sure", -0.05, [-0.05, -4.0, -5.0, -6.0, -7.0]),
                ("torn between two", -0.7, [-0.7, -0.75, -4.0, -5.0, -6.0]),
                ("unlikely pick", -3.0, [-0.2, -2.0, -3.0, -3.5, -4.0])]
    st.dataframe(pd.DataFrame([{
        "token": name, "p(chosen)": round(math.exp(lp), 3),
        "Σ p(top 5)": round(sum(math.exp(x) for x in top), 3),
        "confidence c": round(token_confidence(lp, top), 3),
    } for name, lp, top in examples]), hide_index=True)
    tokens = ("Step", ":", " 4", "*", "5", "=", "20", "\n", "Answer", ":", " (10-6)", "+",
              "4*5", "=", "24")
    confs = (0.99, 0.99, 0.62, 0.41, 0.88, 0.97, 0.93, 0.99, 0.98, 0.99, 0.35, 0.7, 0.8,
             0.97, 0.96)
    rollout = Rollout("".join(tokens), tokens, confs, sum(confs) / len(confs), None, None,
                      "confidence")
    st.caption(f"A rollout coloured by confidence, as the inspector shows it (value = mean "
               f"= {rollout.value:.3f}):")
    st.html(confidence_html(rollout))


def reflection(events: list[Event], config: SearchConfig) -> None:
    st.header("Reflection")
    st.write(f"Appending “{REFLECTION_LINE}” "
             "after a thought makes the model critique itself and derive again. In the tree "
             "it is its own kind of branch, drawn as a purple diamond on a dashed edge. With "
             "the setting reflection = on, every unverified or wrong answer gets one; on the "
             "Search page you can add one under any node.")
    picture(events, len(events), "learn-reflection", config)


def main() -> None:
    st.title("Learn")
    config = SearchConfig(widening=0.0)  # the worked example selects without widening
    events = example_events()
    four_phases(events, config)
    uct_vs_puct(events)
    confidence_reward()
    reflection(events, config)


main()
