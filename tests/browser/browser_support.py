"""What the browser tests watch on a page."""

from __future__ import annotations

from dataclasses import dataclass, field

from playwright.sync_api import Page

from app.bench.browser_driver import GRAPH_FRAME, graph_frame

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


def node_point(page: Page, node_id: int) -> tuple[float, float]:
    """Where vis-network drew node ``node_id``, in the page's coordinates."""
    frame_element = page.locator(GRAPH_FRAME).first
    frame_element.scroll_into_view_if_needed()
    point = graph_frame(page).evaluate(
        "(id) => network.canvasToDOM(network.getPositions([id])[id])", node_id)
    box = frame_element.bounding_box()
    assert box is not None
    return box["x"] + point["x"], box["y"] + point["y"]
