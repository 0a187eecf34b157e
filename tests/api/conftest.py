"""HTTP clients on the module's flagd (see tests/conftest.py for `flagd` itself)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.daemon import Flagd


@pytest.fixture
def admin(flagd: Flagd) -> Iterator[httpx.Client]:
    with flagd.admin() as client:
        yield client


@pytest.fixture
def client(flagd: Flagd) -> Iterator[httpx.Client]:
    with flagd.client() as sdk:
        yield sdk


@pytest.fixture
def anon(flagd: Flagd) -> Iterator[httpx.Client]:
    """No key at all."""
    with httpx.Client(base_url=flagd.url, timeout=10) as plain:
        yield plain
