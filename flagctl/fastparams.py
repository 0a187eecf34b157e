"""Standard-library coercion for flagctl's simple parameters.

Typer 0.26+ coerces every parameter value through a Pydantic TypeAdapter, built on first
use: parsing any `str` option imports Pydantic, about 100 ms, which is most of the
start-up budget of `flagctl eval`. flagctl's parameters are strings, bounded integers and
lists of strings, so before running, each such parameter is given a small coercion of its
own. Anything else (paths, enums) keeps Typer's. On a Typer without this mechanism the
parameters simply keep Typer's coercion; tests/cli pins that Pydantic stays unloaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

Coerce = Callable[[Any, Any, Any], Any]


class _StdlibParam:
    """Duck-types typer._coercion.RuntimeParam: only `coerce` is called."""

    def __init__(self, item: Coerce) -> None:
        self.item = item

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        if multi:
            if isinstance(value, str):
                raise _bad("Value must be an iterable.", param, ctx)
            return [self.item(v, param, ctx) for v in value]
        return self.item(value, param, ctx)


def _bad(message: str, param: Any, ctx: Any) -> Exception:
    from typer import BadParameter

    return BadParameter(message, ctx=ctx, param=param)


def _text(value: Any, param: Any, ctx: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(sys.getfilesystemencoding(), "surrogateescape")
    return str(value)


def _integer(low: int | None, high: int | None) -> Coerce:
    def coerce(value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, bool):
            raise _bad(f"{value!r} is not a valid integer.", param, ctx)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise _bad(f"{value!r} is not a valid integer.", param, ctx) from None
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"{'' if low is None else f'{low}<='}x{'' if high is None else f'<={high}'}"
            raise _bad(f"{number} is not in the range {bounds}.", param, ctx)
        return number

    return coerce


_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


def _boolean(value: Any, param: Any, ctx: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _bad(f"{value!r} is not a valid boolean.", param, ctx)


def _coercer(annotation: Any, info: Any) -> Coerce | None:
    if getattr(info, "parser", None) is not None or getattr(info, "clamp", False):
        return None
    if annotation is bool:
        return _boolean
    if annotation is str or annotation == list[str]:
        return _text
    if annotation is int or annotation == list[int]:
        return _integer(info.min, info.max)
    return None


def _commands(command: Any, help_names: list[str]) -> Iterator[tuple[Any, list[str]]]:
    """Every command with its help option names: its own, else its group's, as click's
    contexts inherit them (`-h` is set once, on the application)."""
    names = (command.context_settings or {}).get("help_option_names", help_names)
    yield command, names
    for sub in getattr(command, "commands", {}).values():
        yield from _commands(sub, names)


def install(command: Any) -> None:
    from types import SimpleNamespace

    for each, help_names in _commands(command, ["--help"]):
        params = list(each.params)
        if hasattr(each, "get_help_option"):  # created on first use, cached by the command
            help_option = each.get_help_option(SimpleNamespace(help_option_names=help_names))
            if help_option is not None:
                params.append(help_option)
        for param in params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None or not hasattr(param, "_runtime_param"):
                continue
            coerce = _coercer(descriptor.annotation, descriptor.parameter_info)
            if coerce is not None:
                param._runtime_param = _StdlibParam(coerce)
