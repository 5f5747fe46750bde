"""MCTSr's phases carried out with a model; the rules are ``engine.core.mctsr``'s.

- **expand** the root (once): the model's first answer, and the dummy answer;
- **expand** an answer (self-refine): a critique, then a rewrite that uses it. A model
  trained on the reflection line (the bundled one) reads its previous attempt, the line
  ``Wait! Maybe I made some mistakes! I need to rethink from scratch.`` and writes a new
  attempt; a chat model is asked for a critique and then for a rewrite (the task's two
  prompts). Only the parent's answer is read, never the whole chain of rewrites.
- **simulate**: the new answer's self-reward, ``reward_samples`` samples, under the
  search's evaluator. A verified-correct answer is worth 1 in every sample. The verifier
  also decides a wrong answer (0), as it does for MCTS's state values, except under
  ``confidence`` (the mean token confidence). Otherwise (an attempt cut short at a step
  the step check rejected, or at the length limit) ``step-check`` gives 1 when every step
  is legal, and ``self-eval`` draws the model's verdict on the last state the attempt
  reached legally (sure 1, impossible 0) once per sample; an attempt without a legal step
  is worth 0.
- **backpropagate**: ``engine.core.mctsr.backup_values``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from engine.backends.protocol import Path, Sample, StopRule
from engine.core.events import Backpropagated, ChildSpec, Expanded, Rollout, Simulated
from engine.core.mctsr import DUMMY_REWARD, backup_values, reward_q
from engine.core.phases import backup_path
from engine.core.rewards import confidence_value
from engine.core.tree import ROOT_ID, Node
from engine.errors import InputError
from engine.strategies.rounds import token_texts, token_top
from engine.tasks.reflection import REFLECTION_LINE
from engine.tasks.task import VERDICT_WORDS

if TYPE_CHECKING:
    from engine.strategies.search import Search

DUMMY_ANSWER = "Answer: I don't know"
"""The paper's dummy answer: the root's second child, worth ``DUMMY_REWARD``; refining it
asks the model for a fresh attempt."""

NOTHING_TO_REFLECT = "(no legal step to reflect on: a fresh attempt from the problem)"
"""The critique of an answer without a legal step, for a model that refines through the
reflection line."""

_CONTEXT_KEY = 1_000_000_000
"""Backend cache keys of MCTSr's contexts are negative, so they never meet a node id: an
answer's refine context (it and the reflection line) is ``-(2 id + 1)``, a chat model's
critique request ``-(2 id + 2)``, a rewrite request ``-(KEY + child id)``."""


class Refiner:
    """MCTSr's expansion, simulation and backup for one ``Search``."""

    def __init__(self, search: Search) -> None:
        self.search = search

    # -- expand -----------------------------------------------------------------------

    def expand(self) -> Expanded:
        s = self.search
        leaf = s.tree.nodes[s.tree.pending.path[-1]]
        it = s.tree.iterations_done
        first = len(s.tree.nodes)
        if leaf.id == ROOT_ID:
            sample = self._attempt([(ROOT_ID, s.prompt_ids)], "", s.generator("expand"))
            answer = self._answer(sample, first, None)
            dummy_judgement = s.task.judge(DUMMY_ANSWER + "\n", False)
            dummy = ChildSpec(first + 1, "answer", DUMMY_ANSWER, (), 0.0, 1, (), True,
                              dummy_judgement.answer, dummy_judgement.verdict, None,
                              DUMMY_REWARD, placeholder=True)
            reason = ("MCTSr starts: the model's first answer, and the dummy answer "
                      f"{DUMMY_ANSWER!r} (worth {DUMMY_REWARD:g}), as in the paper"
                      + self._stopped(sample))
            return Expanded(it, leaf.id, (answer, dummy), reason, tokens=s.tokens())
        if s.model.chat:
            critique, sample, spent = self._refine_chat(leaf, first)
            how = "the model's critique of it, then its rewrite"
        else:
            critique, sample, spent = self._refine_reflection(leaf)
            how = "its legal steps, the reflection line, then a new attempt"
        child = replace(self._answer(sample, first, critique), critique_tokens=spent)
        reason = f"self-refine #{leaf.id}: {how}" + self._stopped(sample)
        return Expanded(it, leaf.id, (child,), reason, tokens=s.tokens())

    def _refine_reflection(self, leaf: Node) -> tuple[str, Sample, int]:
        """The bundled model's format: previous attempt, reflection line, new attempt. The
        previous attempt is read as the model was trained to read it: its legal steps (its
        answer line and a rejected step are left out; training put the reflection line
        after legal dead ends). An answer without a legal step (the dummy, or one whose first
        step broke the rules) leaves nothing to reflect on, and the model was never trained
        on a reflection line straight after the input (its first step after one was legal
        0 times in 120 samples, against 93% for a fresh attempt): it is rewritten from the
        problem alone."""
        s = self.search
        legal, steps, _ = self._legal_part(leaf.text)
        if not steps:
            return (NOTHING_TO_REFLECT, self._attempt([(ROOT_ID, s.prompt_ids)], "",
                                                      s.generator("expand")), 0)
        context = legal + REFLECTION_LINE + "\n"
        ids = s.model.encode_continuation(context)
        path: Path = [(ROOT_ID, s.prompt_ids), (-(2 * leaf.id + 1), ids)]
        if len(s.prompt_ids) + len(ids) + 1 >= s.model.context_length:
            return REFLECTION_LINE, _no_room(), 0
        return REFLECTION_LINE, self._attempt(path, context, s.generator("expand")), 0

    def _refine_chat(self, leaf: Node, child_id: int) -> tuple[str, Sample, int]:
        """A chat model: ask for a critique, then for a rewrite that uses it."""
        s = self.search
        ask = self._encode_request(s.task.critique_prompt(leaf.text))
        if ask is None:
            return "(the critique request does not fit in the model's context)", _no_room(), 0
        rule = StopRule("rollout", s.config.rollout_max_tokens)
        critique = s.session.sample([(-(2 * leaf.id + 2), ask)], 1, rule,
                                    s.config.temperature, s.generator("critique"))[0]
        text = critique.text.strip()
        spent = len(critique.token_ids)
        rewrite = self._encode_request(s.task.rewrite_prompt(leaf.text, text))
        if rewrite is None:
            return text, _no_room(), spent
        return text, self._attempt([(-(_CONTEXT_KEY + child_id), rewrite)], "",
                                   s.generator("expand")), spent

    def _encode_request(self, prompt: str) -> list[int] | None:
        """A chat request's token ids, or ``None`` when it leaves no room for an answer."""
        model = self.search.model
        try:
            ids = model.encode_prompt(prompt)
        except InputError:  # the backend's "prompt longer than the context"
            return None
        return ids if len(ids) + 1 < model.context_length else None

    def _attempt(self, path: Path, prefix: str, generator: torch.Generator) -> Sample:
        """One whole answer after ``path``: to its answer line, EOS, the length limit or (step
        check on) its first rejected step."""
        s = self.search
        rule = StopRule("rollout", s.config.rollout_max_tokens, s.task.is_final_line,
                        s.evaluator.rollout_check(prefix))
        return s.session.sample(path, 1, rule, s.config.temperature, generator)[0]

    def _answer(self, sample: Sample, child_id: int, critique: str | None) -> ChildSpec:
        s = self.search
        judgement = s.judge_attempt("", sample)
        return ChildSpec(child_id, "answer", sample.text.rstrip("\n"), tuple(sample.token_ids),
                         sample.logprob, sample.count, tuple(sample.confidences), True,
                         judgement.answer, judgement.verdict, sample.ended, None, None,
                         critique, top=token_top(s.model, sample),
                         token_texts=token_texts(s.model, sample))

    @staticmethod
    def _stopped(sample: Sample) -> str:
        if sample.rejected is not None:
            return f"; the attempt stopped at a step the step check rejected: {sample.rejected}"
        if sample.ended == "context":
            return "; no room was left in the model's context for a rewrite"
        return ""

    # -- simulate ---------------------------------------------------------------------

    def simulate(self) -> Simulated:
        s = self.search
        target = s.tree.pending.simulate_node
        node = s.tree.nodes[ROOT_ID if target is None else target]
        rewards, how = self.rewards(node)
        value = reward_q(rewards)
        rollout = Rollout("", (), (), value, node.answer, node.verdict,
                          f"self-reward: {how}; Q = (min + mean) / 2 of "
                          f"{len(rewards)} sample(s)", rewards=rewards)
        return Simulated(s.tree.iterations_done, node.id, rollout, s.tokens())

    def rewards(self, node: Node) -> tuple[tuple[float, ...], str]:
        """The sampled self-rewards of answer ``node`` and what gave them."""
        s = self.search
        n = s.config.reward_samples
        kind = s.config.evaluator
        if node.verdict is True:
            return (1.0,) * n, "the verifier: verified correct"
        if node.ended == "context" and not node.text:
            return (0.0,) * n, "no rewrite (no room in the context)"
        if kind == "outcome":
            return (0.0,) * n, "the verifier: not verified correct"
        if kind == "confidence":
            return (confidence_value(node.confidences),) * n, "mean token confidence"
        if node.answer is not None and node.verdict is False:
            return (0.0,) * n, "the verifier: a wrong answer"
        legal, steps, rejected = self._legal_part(node.text)
        if kind == "step-check":
            return (0.0 if rejected else 1.0,) * n, "step check of every step"
        if not steps:
            return (0.0,) * n, "no legal step to judge"
        prompt = s.task.value_prompt(legal)
        if prompt is None:
            return (0.0,) * n, "self-evaluation (this state cannot be judged: 0)"
        before = s.session.counter.generated
        p = s.session.judge([prompt], VERDICT_WORDS)[0]
        # The session counted the first verdict of a new prompt; the others are drawn from
        # the same distribution: one generated token and one self-evaluation each.
        more = n - (s.session.counter.generated - before)
        s.session.counter.generated += more
        s.session.counter.judged += more
        draws = torch.rand(n, generator=s.generator("reward"))
        rewards = tuple(1.0 if float(d) < p else 0.0 for d in draws)
        return rewards, (f"self-evaluation of the state after its {steps} legal step(s), "
                         f"P(sure) = {p:.3f}, drawn {n} times (sure 1, impossible 0)")

    def _legal_part(self, text: str) -> tuple[str, int, bool]:
        """The answer's lines before its answer line or its first rejected step, how many
        they are, and whether a step was rejected."""
        task = self.search.task
        done, steps = "", 0
        for line in text.split("\n"):
            if task.is_final_line(line) or not line.strip():
                break
            if task.step_check(done, line) is not None:
                return done, steps, True
            done += line + "\n"
            steps += 1
        return done, steps, False

    # -- backpropagate ----------------------------------------------------------------

    def backpropagate(self) -> Backpropagated:
        s = self.search
        pending = s.tree.pending
        value = 0.0 if pending.value is None else pending.value
        path = backup_path(pending)
        return Backpropagated(s.tree.iterations_done, path, value, s.tokens(),
                              backup_values(s.tree, path, value))


def _no_room() -> Sample:
    return Sample([], [], [], "", 1, "context")
