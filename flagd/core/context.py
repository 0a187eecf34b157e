"""Evaluation contexts (SPEC section 12): a targeting key and attributes.

An evaluation accepts three spellings of a context: a `Context`, a plain mapping
`{"key": ..., "attributes": {...}}` (the wire form) and a bare string, which is a context
with that key and no attributes (`is_enabled(flag, "user-42")`). `split_context` reduces
each to `(key, attributes)` without copying; a key that is missing, null or not a string
comes back as None, which evaluation answers with `TARGETING_KEY_MISSING`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import ValidationError

NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
ATTRIBUTE_NAME_MAX = 256


@dataclass(frozen=True, slots=True)
class Context:
    """`attributes` is not copied: do not change it while an evaluation uses it."""

    key: str | None
    attributes: Mapping[str, Any] = field(default_factory=lambda: NO_ATTRIBUTES)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "attributes": dict(self.attributes)}


ContextLike = Context | Mapping[str, Any] | str


def split_context(context: object) -> tuple[str | None, Mapping[str, Any]]:
    """(targeting key or None, attributes) of any accepted spelling; never raises.

    Exact-type checks come first: an isinstance check against the Mapping ABC costs more
    than the rest of a typical evaluation.
    """
    cls = context.__class__
    if cls is str:
        return context, NO_ATTRIBUTES  # type: ignore[return-value]
    key: object
    attributes: object
    if cls is dict:
        key, attributes = context.get("key"), context.get("attributes")  # type: ignore[attr-defined]
        if key.__class__ is str and attributes.__class__ is dict:
            return key, attributes
    elif cls is Context:
        key, attributes = context.key, context.attributes  # type: ignore[attr-defined]
    elif isinstance(context, Context):
        key, attributes = context.key, context.attributes
    elif isinstance(context, Mapping):
        key, attributes = context.get("key"), context.get("attributes")
    elif isinstance(context, str):  # a str subclass
        return str.__str__(context), NO_ATTRIBUTES
    else:
        return None, NO_ATTRIBUTES
    if not isinstance(attributes, Mapping):
        attributes = NO_ATTRIBUTES
    return (key if isinstance(key, str) else None), attributes


def parse_context(body: Any, field_name: str = "context") -> Context:
    """A wire context, strictly: for the server-side evaluation route.

    `key` may be absent or null (the evaluation then answers TARGETING_KEY_MISSING, as the
    contract says); attribute values are strings, finite numbers, booleans, lists of those,
    or null (the same as absent).
    """
    if not isinstance(body, dict):
        raise ValidationError(field_name, "must be an object with 'key' and 'attributes'")
    key = body.get("key")
    if key is not None and not isinstance(key, str):
        raise ValidationError(f"{field_name}.key", "must be a string")
    attributes = body.get("attributes")
    if attributes is None:
        return Context(key)
    if not isinstance(attributes, dict):
        raise ValidationError(f"{field_name}.attributes", "must be an object")
    for name, value in attributes.items():
        path = f"{field_name}.attributes.{name}"
        if not name or len(name) > ATTRIBUTE_NAME_MAX:
            raise ValidationError(path, f"names must be 1-{ATTRIBUTE_NAME_MAX} characters")
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        if not all(_is_attribute_scalar(item) for item in items):
            raise ValidationError(path, "must be a string, a number, a boolean or a list of those")
    return Context(key, attributes)


def _is_attribute_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)
