"""Two dependencies are used through private parts, for reasons their modules give:
flagd/http_server.py (aiohttp: a header timeout and JSON errors for requests its parser
refuses) and flagctl/fastparams.py plus flagctl/app.py (Typer: start-up without Pydantic,
one-line usage errors). pyproject.toml pins each to the minor version tested; this test
names exactly what moved when a newer version is tried, instead of a subtle failure.
"""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version

from tests.conftest import REPO


def pinned_minor(package: str) -> str:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in dependencies if d.split(">")[0].split("<")[0].strip() == package]
    lower = spec.split(">=")[1].split(",")[0]
    return ".".join(lower.split(".")[:2])


def test_installed_versions_are_the_pinned_minor_versions() -> None:
    for package in ("aiohttp", "typer"):
        assert version(package).startswith(pinned_minor(package) + "."), package


def test_aiohttp_private_parts_used_by_http_server_exist() -> None:
    from aiohttp import web, web_protocol, web_server

    handler = web_protocol.RequestHandler
    for name in ("data_received", "handle_error", "log_exception", "connection_made"):
        assert callable(getattr(handler, name, None)), f"RequestHandler.{name}"
    source = inspect.getsource(handler)
    for attribute in ("self._messages", "self._waiter", "self._loop"):
        assert attribute in source, f"RequestHandler uses {attribute} no more"
    assert callable(getattr(web.AppRunner, "_make_server", None)), "AppRunner._make_server"
    # flagd/http_server.py makes `flagd` the default Server header.
    from aiohttp import web_response

    assert "headers.setdefault(hdrs.SERVER, SERVER_SOFTWARE)" in inspect.getsource(
        web_response.StreamResponse
    ), "StreamResponse's default Server header"
    server_init = inspect.getsource(web_server.Server.__init__)
    assert "self._kwargs" in server_init and "self._loop" in server_init, "Server._kwargs/_loop"


def test_typer_private_parts_used_by_flagctl_exist() -> None:
    from typer import _coercion, core
    from typer._click.exceptions import NoArgsIsHelpError  # flagctl/app.py

    assert issubclass(NoArgsIsHelpError, Exception)
    assert callable(getattr(_coercion.RuntimeParam, "coerce", None)), "RuntimeParam.coerce"
    # flagctl/fastparams.py swaps a parameter's `_runtime_param` for a stdlib coercion.
    for cls in (core.TyperOption, core.TyperArgument):
        source = inspect.getsource(cls)
        assert "_runtime_param" in source, f"{cls.__name__}._runtime_param"
        assert "type_descriptor" in source, f"{cls.__name__}.type_descriptor"
