"""Per-node KV caches of one search, least recently used first out under a byte budget.

A node's cache holds the keys and values of its whole path (the parent's plus its own
tokens) and the next-token logits after its last token, so that expanding or rolling out
from it runs only new tokens through the model.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class NodeState:
    """A node's KV cache (batch 1) and the next-token logits after its last token."""

    cache: Any
    logits: torch.Tensor
    length: int

    def nbytes(self) -> int:
        total = self.logits.numel() * self.logits.element_size()
        for layer in getattr(self.cache, "layers", []):
            for name in ("keys", "values"):
                tensor = getattr(layer, name, None)
                if isinstance(tensor, torch.Tensor):
                    total += tensor.numel() * tensor.element_size()
        return total


@dataclass
class NodeCache:
    """Node id -> ``NodeState``, evicting the least recently used beyond ``budget_bytes``."""

    budget_bytes: int
    _states: OrderedDict[int, NodeState] = field(default_factory=OrderedDict)
    _bytes: int = 0

    def deepest(self, path_ids: Sequence[int]) -> tuple[int, NodeState | None]:
        """(index in ``path_ids`` of the deepest cached node, its state); (-1, None) if none."""
        for i in range(len(path_ids) - 1, -1, -1):
            state = self._states.get(path_ids[i])
            if state is not None:
                self._states.move_to_end(path_ids[i])
                return i, state
        return -1, None

    def put(self, node_id: int, state: NodeState) -> None:
        """Keep ``state`` as ``node_id``'s cache, evicting least recently used ones."""
        if node_id in self._states:
            self._bytes -= self._states.pop(node_id).nbytes()
        self._states[node_id] = state
        self._bytes += state.nbytes()
        while self._bytes > self.budget_bytes and len(self._states) > 1:
            _, evicted = self._states.popitem(last=False)
            self._bytes -= evicted.nbytes()

    @property
    def nbytes(self) -> int:
        """Bytes held by all cached states."""
        return self._bytes
