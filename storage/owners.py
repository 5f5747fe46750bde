"""Whether the process that owns a running run is still alive (to notice dead writers)."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int | None) -> bool:
    """True unless ``pid`` is certainly gone from this host (or a zombie). Where that cannot
    be told (not POSIX), a process counts as alive, so no live run is ever marked dead."""
    if pid is None or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed child that its parent has not reaped yet still answers signal 0."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself hold spaces.
    return text[text.rfind(")") + 2:][:1] in ("Z", "X")
