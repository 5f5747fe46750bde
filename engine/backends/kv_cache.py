"""Per-node KV segments of one search: each token's keys and values are stored once.

A node keeps only its *own* tokens' keys and values (a segment, batch 1), with the node
before it on its path and the position it starts at, as a radix tree of segments does
(SGLang's RadixAttention). A path's cache is assembled from its nodes' segments; a segment
that is missing (never stored, or evicted) is recomputed from the assembled prefix and
stored again, and the forward passes it costs are counted like any other. The segments
are evicted least recently used first under a byte budget, so the memory held is close to
the KV of the tree's own tokens.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Segment:
    """One node's own tokens' keys and values: ``keys[layer]`` is ``[1, heads, n, dim]``."""

    parent: int | None
    """The node whose segment comes right before this one (``None``: the path's start)."""
    start: int
    """How many tokens come before the segment on its path."""
    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def tokens(self) -> int:
        return int(self.keys[0].shape[-2]) if self.keys else 0

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    def trimmed(self) -> Segment:
        """The segment without its last token (views, not copies)."""
        return Segment(self.parent, self.start, tuple(k[..., :-1, :] for k in self.keys),
                       tuple(v[..., :-1, :] for v in self.values))

    def completed(self, cache: Any, row: int, position: int) -> Segment:
        """The segment with one more token: position ``position`` of row ``row`` of a
        ``DynamicCache`` (an open segment's last token, once it has been forwarded)."""
        keys = tuple(torch.cat([k, layer.keys[row:row + 1, :, position:position + 1, :]], -2)
                     for k, layer in zip(self.keys, cache.layers, strict=True))
        values = tuple(torch.cat([v, layer.values[row:row + 1, :, position:position + 1, :]],
                                 -2)
                       for v, layer in zip(self.values, cache.layers, strict=True))
        return Segment(self.parent, self.start, keys, values)

    @classmethod
    def cut(cls, cache: Any, row: int, start: int, end: int, parent: int | None) -> Segment:
        """Positions ``start:end`` of row ``row`` of a ``DynamicCache``, copied out (so the
        batch's cache can be freed)."""
        layers = cache.layers
        keys = tuple(layer.keys[row:row + 1, :, start:end, :].clone() for layer in layers)
        values = tuple(layer.values[row:row + 1, :, start:end, :].clone() for layer in layers)
        return cls(parent, start, keys, values)


@dataclass
class NodeCache:
    """Node id -> ``Segment``, evicting the least recently used beyond ``budget_bytes``."""

    budget_bytes: int
    _segments: OrderedDict[int, Segment] = field(default_factory=OrderedDict)
    _bytes: int = 0

    def get(self, node_id: int, parent: int | None, start: int) -> Segment | None:
        """``node_id``'s segment if it continues ``parent`` at position ``start``."""
        segment = self._segments.get(node_id)
        if segment is None or segment.parent != parent or segment.start != start:
            return None
        self._segments.move_to_end(node_id)
        return segment

    def put(self, node_id: int, segment: Segment) -> None:
        """Keep ``segment`` as ``node_id``'s, evicting least recently used ones."""
        if node_id in self._segments:
            self._bytes -= self._segments.pop(node_id).nbytes()
        self._segments[node_id] = segment
        self._bytes += segment.nbytes()
        while self._bytes > self.budget_bytes and len(self._segments) > 1:
            _, evicted = self._segments.popitem(last=False)
            self._bytes -= evicted.nbytes()

    def __contains__(self, node_id: int) -> bool:
        return node_id in self._segments

    @property
    def nbytes(self) -> int:
        """Bytes held by all stored segments."""
        return self._bytes

    @property
    def tokens(self) -> int:
        """Tokens whose keys and values are held."""
        return sum(s.tokens for s in self._segments.values())


def concat(segments: Sequence[Segment]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Consecutive segments joined, layer by layer: (keys, values)."""
    layers = len(segments[0].keys)
    keys = [torch.cat([s.keys[i] for s in segments], dim=-2) for i in range(layers)]
    values = [torch.cat([s.values[i] for s in segments], dim=-2) for i in range(layers)]
    return keys, values
