"""What would MCTS gain against Best-of-N if one of its costs were gone? An analysis, not a
setting: it changes the engine in the benchmark's worker processes only.

``python -m app.bench.counterfactual --oracle-values [ablation options]`` runs
``app.bench.ablation`` (same options, same rows and tables) with one of these changes:

- ``--oracle-values``: the self-evaluation is replaced by the exact solver. A Game-of-24
  state is worth 1 when its numbers can still make 24 and 0 when they cannot, at no token
  cost. This is the best any evaluator of solvability could do, so it bounds what a
  better-trained self-evaluation could buy.
- ``--free-duplicates``: a sampled step identical to an existing child (dropped by
  expansion) costs no tokens, as if duplicates were never drawn.

Neither exists in ``mctslab``: the oracle knows the answer, and the tokens of a duplicate
were spent. docs/RESULTS.md section 1 has the figures.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from app.bench import ablation


def oracle_values() -> None:
    """Replace ``Evaluator.values`` under ``self-eval`` with the exact solver's verdict."""
    from engine.strategies import values as module
    from engine.tasks import game24

    model_values = module.Evaluator.values

    def solver_values(self: Any, states: Sequence[module.StateToValue]) -> list[float | None]:
        if self.config.evaluator != "self-eval":
            return model_values(self, states)
        out: list[float | None] = []
        for state in states:
            known = module.decided(state)
            left = None if known is not None else self.task.numbers_left(state.generated)
            out.append(known if left is None else float(game24.is_solvable(left)))
        return out

    module.Evaluator.values = solver_values  # type: ignore[method-assign]


def free_duplicates() -> None:
    """Refund the generated tokens of samples that expansion drops as duplicates."""
    from engine.strategies import search as module

    keep_new = module.Search.new_children

    def refunded(self: Any, node_id: int, samples: Any, first_id: int,
                 earlier: Any = None) -> Any:
        counter = self.session.counter
        before = counter.discarded
        kept = keep_new(self, node_id, samples, first_id, earlier)
        counter.generated -= counter.discarded - before
        return kept

    module.Search.new_children = refunded  # type: ignore[method-assign]


CHANGES: dict[str, Callable[[], None]] = {
    "--oracle-values": oracle_values, "--free-duplicates": free_duplicates}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    chosen = [flag for flag in CHANGES if flag in args]
    if len(chosen) != 1:
        print("name one change: " + " or ".join(CHANGES) + " (then ablation's options)",
              file=sys.stderr)
        return 2
    args.remove(chosen[0])
    return ablation.main(args, setup=CHANGES[chosen[0]],
                         prog=f"python -m app.bench.counterfactual {chosen[0]}")


if __name__ == "__main__":
    sys.exit(main())
