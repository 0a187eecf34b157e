"""What a flag's user-visible fields are, and how to say what changed between two states."""

from __future__ import annotations

from typing import Any

# The fields an operator sets; id, version and timestamps belong to the server.
WRITABLE = ("description", "enabled", "rollout_percentage", "targeted_users")
DEFAULTS: dict[str, Any] = {
    "description": "",
    "enabled": False,
    "rollout_percentage": 0,
    "targeted_users": [],
}


def writable(flag: dict[str, Any]) -> dict[str, Any]:
    """The key and the operator-set fields, defaults filled in: what export writes."""
    return {"key": flag["key"], **{name: flag.get(name, DEFAULTS[name]) for name in WRITABLE}}


def describe(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What an update changed, in a few words: `off → on, rollout 10% → 25%, +2 targets`."""
    parts = []
    if before.get("enabled") != after.get("enabled"):
        parts.append("off → on" if after.get("enabled") else "on → off")
    if before.get("rollout_percentage") != after.get("rollout_percentage"):
        parts.append(
            f"rollout {before.get('rollout_percentage')}% → {after.get('rollout_percentage')}%"
        )
    old, new = before.get("targeted_users", []), after.get("targeted_users", [])
    if old != new:
        added, removed = len(set(new) - set(old)), len(set(old) - set(new))
        words = [f"+{added}" if added else "", f"-{removed}" if removed else ""]
        joined = " ".join(w for w in words if w)
        parts.append(f"{joined} targets" if joined else "targets reordered")
    if before.get("description") != after.get("description"):
        parts.append("description")
    return ", ".join(parts) or "no change"
