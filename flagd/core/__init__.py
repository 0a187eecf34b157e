"""The pure core of flagd: model, validation, evaluation, snapshot codec, domain errors.

Standard library only, no I/O: the daemon, flagctl and the SDK all import it.
"""

from .errors import (
    DuplicateKey,
    FlagdError,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    StoreUnavailable,
    ValidationError,
    VersionConflict,
)
from .evaluation import (
    CompiledFlag,
    Evaluation,
    bucket,
    compile_flag,
    evaluate,
    explain,
    fnv1a32,
)
from .flag import Action, Change, Flag, utc_now
from .snapshot import FlagSet, Snapshot, encode_json
from .validation import FlagPatch, is_uuid, is_valid_key, parse_create, parse_if_match, parse_update

__all__ = [
    "Action",
    "Change",
    "CompiledFlag",
    "DuplicateKey",
    "Evaluation",
    "Flag",
    "FlagPatch",
    "FlagSet",
    "FlagdError",
    "IdempotencyKeyReused",
    "InvalidRequest",
    "NotFound",
    "Snapshot",
    "StoreUnavailable",
    "ValidationError",
    "VersionConflict",
    "bucket",
    "compile_flag",
    "encode_json",
    "evaluate",
    "explain",
    "fnv1a32",
    "is_uuid",
    "is_valid_key",
    "parse_create",
    "parse_if_match",
    "parse_update",
    "utc_now",
]
