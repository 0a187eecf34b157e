"""`flagctl export` / `import`: the file format and the plan that makes a server match a file.

The file is the whole desired flag set: `{"flags": [{key, description, enabled,
rollout_percentage, targeted_users}, ...]}` in creation order (oldest first), so that an
import into an empty server recreates the same list in the same order. A field missing from
a flag means its default. Every flag is validated by flagd's own rules before anything is
sent, so an invalid file changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .changes import DEFAULTS, WRITABLE, describe, writable
from .errors import CliError

FORMAT = "flagctl-export/1"


def export_document(flags_newest_first: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": FORMAT, "flags": [writable(f) for f in reversed(flags_newest_first)]}


def parse_document(raw: bytes | str, source: str) -> list[dict[str, Any]]:
    """The desired flags from an export file (or any flagd flag list: admin list, snapshot)."""
    from flagd.core import FlagdError, parse_create

    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise CliError(f"{source} is not valid JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("flags"), list):
        items = document["flags"]
        if document.get("format", FORMAT) != FORMAT:
            raise CliError(f"{source}: unknown format {document['format']!r}, expected {FORMAT}")
        if "revision" in document:  # a client snapshot lists newest first
            items = list(reversed(items))
    elif isinstance(document, list):
        items = list(reversed(document))  # the admin list is newest first
    else:
        raise CliError(f'{source}: expected {{"flags": [...]}} as written by `flagctl export`')
    desired: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        where = f"{source}: flag {index + 1}"
        if not isinstance(item, dict):
            raise CliError(f"{where}: must be a JSON object")
        try:
            patch = parse_create(item)
        except FlagdError as exc:
            key = item.get("key")
            raise CliError(
                f"{where}{f' ({key})' if isinstance(key, str) else ''}: {exc.message}"
            ) from None
        assert patch.key is not None
        if patch.key in desired:
            raise CliError(f"{where}: key {patch.key!r} appears more than once")
        desired[patch.key] = {
            "key": patch.key,
            "description": patch.description if patch.description is not None else "",
            "enabled": bool(patch.enabled),
            "rollout_percentage": patch.rollout_percentage or 0,
            "targeted_users": list(patch.targeted_users or ()),
        }
    return list(desired.values())


@dataclass
class Plan:
    create: list[dict[str, Any]] = field(default_factory=list)
    # (key, desired flag, what changes); the version is the one the plan was made against
    update: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # only on the server, no --prune
    unchanged: int = 0
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)

    def to_dict(self) -> dict[str, Any]:
        return {
            "create": [flag["key"] for flag in self.create],
            "update": [key for key, _flag, _change in self.update],
            "delete": list(self.delete),
            "kept": list(self.kept),
            "unchanged": self.unchanged,
        }


def make_plan(
    desired: list[dict[str, Any]], current_newest_first: list[dict[str, Any]], prune: bool
) -> Plan:
    current = {flag["key"]: flag for flag in current_newest_first}
    plan = Plan(versions={key: int(flag["version"]) for key, flag in current.items()})
    for flag in desired:
        now = current.get(flag["key"])
        if now is None:
            plan.create.append(flag)
        elif any(now.get(name, DEFAULTS[name]) != flag[name] for name in WRITABLE):
            plan.update.append((flag["key"], flag, describe(now, flag)))
        else:
            plan.unchanged += 1
    wanted = {flag["key"] for flag in desired}
    # Oldest first, like the file: deleting in that order reads naturally in the plan.
    extra = [key for key in reversed(list(current)) if key not in wanted]
    if prune:
        plan.delete = extra
    else:
        plan.kept = extra
    return plan
