"""Random streams: one per (run seed, problem, step, purpose), independent of each other.

Mixing the problem into the seed makes the searches of an evaluation independent trials:
with the seed alone, every puzzle of a run would draw the same numbers, their outcomes
would be correlated, and one seed would move a whole table.
"""

from __future__ import annotations

import hashlib


def stream_seed(seed: int, problem: str, step: int, purpose: str) -> int:
    """A 63-bit seed for one draw: ``purpose`` names what is drawn (``expand``,
    ``simulate``, ``beam``...), ``step`` which one of them (an iteration, an expansion)."""
    digest = hashlib.blake2b(f"{seed}\x1f{problem}\x1f{step}\x1f{purpose}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
