"""What the browser tests watch on a page."""

from __future__ import annotations

from dataclasses import dataclass, field

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}


@dataclass
class Watch:
    """Everything the page did that a test must not allow."""

    foreign_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert self.foreign_requests == [], self.foreign_requests
        assert self.console_errors == [], self.console_errors
        assert self.dialogs == [], self.dialogs
        assert self.failed_responses == [], self.failed_responses
