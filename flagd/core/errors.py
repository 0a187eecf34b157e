"""Domain errors. Each carries a stable machine code; flagd/errors.py maps them to HTTP."""

from __future__ import annotations


class FlagdError(Exception):
    """Base of every expected failure. `code` is the wire error code."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(FlagdError):
    """The request could not be read at all (bad JSON, a malformed header)."""

    code = "invalid_request"


class ValidationError(FlagdError):
    """The request was readable but a field breaks the rules."""

    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(FlagdError):
    code = "not_found"


class DuplicateKey(FlagdError):
    code = "duplicate_key"


class VersionConflict(FlagdError):
    code = "version_conflict"


class IdempotencyKeyReused(FlagdError):
    """The Idempotency-Key was first used for another request (method, route, flag, body)."""

    code = "idempotency_key_reused"


class StoreUnavailable(FlagdError):
    """The store cannot be reached. Almost always the write was not applied; when the
    connection died during COMMIT nobody can know, and the change log (hence every
    stream, after reconcile) shows whether it was."""

    code = "store_unavailable"


class SegmentInUse(FlagdError):
    """A segment cannot be deleted while a flag's rules name it (409)."""

    code = "segment_in_use"

    def __init__(self, segment_key: str, flag_keys: list[str]) -> None:
        shown = ", ".join(repr(key) for key in flag_keys[:10])
        more = f" and {len(flag_keys) - 10} more" if len(flag_keys) > 10 else ""
        super().__init__(
            f"segment {segment_key!r} is used by flag(s) {shown}{more}; "
            "remove it from their rules first"
        )
        self.segment_key = segment_key
        self.flag_keys = flag_keys
