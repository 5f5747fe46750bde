"""Event dicts written by earlier versions, read as the current format writes them."""

from __future__ import annotations

from typing import Any

from engine.core.events import EVENT_FORMAT


def upgrade_event_dict(raw: dict[str, Any], format_version: int) -> dict[str, Any]:
    """An event dict written in format ``format_version``, as the current format writes it.
    Raise ``ValueError`` for a format this code does not know."""
    if format_version == EVENT_FORMAT:
        return raw
    if format_version == 1:
        return upgrade_v1_to_v2(raw)
    raise ValueError(f"unknown event format {format_version}")


def upgrade_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2 (frozen: a stored-data migration depends on exactly this).

    Format 1 marked every out-of-cycle expansion ``manual: true``, beam steps (their reason
    begins ``beam search``) and reflections added by hand alike; format 2 names the
    ``origin``. Format 2 also added fields that format 1 never had, which read as unknown:
    the cumulative ``tokens`` of expansions and simulations, each child's ``ended`` and
    each score's ``excluded``.
    """
    phase = raw.get("phase")
    upgraded = dict(raw)
    if phase == "expand" and "origin" not in raw:
        manual = upgraded.pop("manual", False)
        beam = str(raw.get("reason", "")).startswith("beam search")
        upgraded["origin"] = ("beam" if beam else "reflection_by_hand") if manual is True \
            else "phase"
        upgraded.setdefault("tokens", None)
        children = raw.get("children")
        if isinstance(children, list):
            upgraded["children"] = [
                {**c, "ended": c.get("ended"), "value": c.get("value"), "dead": c.get("dead")}
                if isinstance(c, dict) else c for c in children]
    elif phase == "simulate":
        upgraded.setdefault("tokens", None)
        rollout = raw.get("rollout")
        if isinstance(rollout, dict):
            upgraded["rollout"] = {"stopped": None, "reward_value": None, "state_value": None,
                                   **rollout}
    elif phase == "backprop" and isinstance(raw.get("tokens"), dict):
        upgraded["tokens"] = {**raw["tokens"], "judged": 0, "discarded": 0}
    if phase == "select" and isinstance(raw.get("levels"), list):
        upgraded["levels"] = [
            {**lv, "scores": [{**sc, "excluded": sc.get("excluded")} if isinstance(sc, dict)
                              else sc for sc in lv.get("scores", [])]}
            if isinstance(lv, dict) and isinstance(lv.get("scores"), list) else lv
            for lv in raw["levels"]]
    return upgraded
