"""Placeholder replaced by the full document."""

from __future__ import annotations

from typing import Any


def openapi_document() -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "flagd", "version": "0.1.0"}, "paths": {}}
