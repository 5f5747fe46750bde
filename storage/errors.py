"""The storage error type: what went wrong with the database, said in one line."""

from __future__ import annotations

from engine.errors import MctsLabError


class StorageError(MctsLabError):
    """A database that cannot be opened or written, a run that does not exist, or an
    export file that cannot be imported; the message says what to do."""
