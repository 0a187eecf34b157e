"""flagd.core stays pure: standard library only, so the SDK and flagctl can embed it cheaply.

The SDK's evaluation path (`flagd.sdk`, `flagd.sdk.flags`, InMemoryFlagClient) is held to
the same bar: importing and using it loads none of the daemon's or the CLI's dependencies
(its network clients import aiohttp lazily, when one is made)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import flagd.core
from tests.conftest import VECTORS

CORE_DIR = Path(flagd.core.__file__).resolve().parent
REPO = CORE_DIR.parent.parent

HEAVY = ("aiohttp", "asyncpg", "redis", "typer", "rich", "platformdirs", "prometheus_client")

# Entry points that must import without the daemon's or the CLI's dependencies.
PURE_ENTRY_POINTS = ["flagd.core", "flagd.sdk", "flagd.sdk.flags"]


def run_fresh(code: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints one JSON object, returned here."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def heavy_modules(loaded: list[str]) -> list[str]:
    return sorted(name for name in loaded if name.split(".")[0] in HEAVY)


@pytest.mark.parametrize("import_name", PURE_ENTRY_POINTS)
def test_importing_loads_no_heavy_dependency(import_name: str) -> None:
    code = (
        f"import json, sys; import {import_name}; print(json.dumps({{'m': sorted(sys.modules)}}))"
    )
    loaded = run_fresh(code)["m"]
    assert import_name in loaded
    assert heavy_modules(loaded) == [], f"{import_name} pulled in {heavy_modules(loaded)}"


def test_evaluating_with_the_sdk_loads_no_heavy_dependency() -> None:
    """The whole read API of an InMemoryFlagClient, as an application's tests would use it."""
    code = textwrap.dedent(
        """
        import json, sys
        from flagd.sdk import InMemoryFlagClient

        rollout = {"key": "new-checkout-flow", "enabled": True, "rollout_percentage": 25}
        with InMemoryFlagClient([rollout]) as flags:
            share = sum(flags.is_enabled("new-checkout-flow", f"user-{n}") for n in range(10000))
            flags.on_change(lambda keys: None)
            flags.set_flag({"key": "beta", "enabled": True, "targeted_users": ["alice"]})
            reasons = [flags.evaluate("beta", "alice").reason, flags.evaluate("x", "b").reason]
            everything = flags.all_flags("alice")
            flags.remove_flag("beta")
            left = [flag.key for flag in flags.flags()]
        print(json.dumps({"share": share, "reasons": reasons, "all": everything, "left": left,
                          "m": sorted(sys.modules)}))
        """
    )
    result = run_fresh(code)
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert result["share"] == vectors["share_25pct_of_user-0..user-9999"]
    assert result["reasons"] == ["targeted", "not_found"]
    assert result["all"]["beta"] is True and result["left"] == ["new-checkout-flow"]
    assert "flagd.sdk.flags" in result["m"]
    assert heavy_modules(result["m"]) == [], f"the SDK pulled in {heavy_modules(result['m'])}"


# Optional C accelerators a core module may try to import, always with a pure fallback.
OPTIONAL_ACCELERATORS = {"fnv_hash_fast"}


def imports_of(path: Path) -> list[tuple[int, str, bool]]:
    """(level, module, optional) of every import; level > 0 is relative, optional means
    inside a `try` that handles ImportError."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            guarded.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name, id(node) in guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or "", id(node) in guarded))
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        isinstance(name, ast.Name) and name.id in {"ImportError", "ModuleNotFoundError"}
        for name in names
    )


CORE_FILES = sorted(CORE_DIR.glob("*.py"))


def test_core_files_are_found() -> None:
    assert {"__init__.py", "evaluation.py", "validation.py"} <= {p.name for p in CORE_FILES}


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_imports_only_the_standard_library(path: Path) -> None:
    for level, module, optional in imports_of(path):
        if level == 1:
            continue  # a sibling inside flagd/core
        assert level == 0, f"{path.name}: import reaches outside flagd.core ({'.' * level}{module})"
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top == "__future__":
            continue
        assert optional and top in OPTIONAL_ACCELERATORS, (
            f"{path.name} imports {module}, which is not in the standard library"
            + ("" if optional else " (and not as an optional import with a fallback)")
        )


def test_core_works_without_optional_accelerators() -> None:
    blocked = ", ".join(f"{name!r}: None" for name in sorted(OPTIONAL_ACCELERATORS))
    code = (
        f"import sys; sys.modules.update({{{blocked}}})\n"
        "from flagd.core import FlagSet, Flag\n"
        "f = Flag('i', 'new-checkout-flow', '', True, 25, (), 1, '', '')\n"
        "s = FlagSet.from_flags([f], 1)\n"
        "print(sum(s.is_enabled('new-checkout-flow', f'user-{n}') for n in range(10000)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert int(result.stdout) == vectors["share_25pct_of_user-0..user-9999"]
