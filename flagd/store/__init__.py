"""Flag storage: the Store protocol and its two implementations."""

from __future__ import annotations

from pathlib import Path

from .base import Decide, Decision, Keep, Put, Remember, Remove, Store, WriteResult

__all__ = [
    "Decide",
    "Decision",
    "Keep",
    "Put",
    "Remember",
    "Remove",
    "Store",
    "WriteResult",
    "open_store",
]


def open_store(database_url: str | None, data_dir: Path) -> Store:
    """PostgreSQL when `database_url` is a postgres:// URL, else the embedded SQLite file.

    Drivers are imported here, lazily, so the embedded mode never loads asyncpg.
    """
    if database_url and database_url.startswith(("postgres://", "postgresql://")):
        from .postgres import PostgresStore

        return PostgresStore(database_url)
    if database_url:
        raise ValueError("DATABASE_URL must start with postgres:// or postgresql://")
    from .sqlite import SQLiteStore

    return SQLiteStore(data_dir / "flagd.sqlite3")
