"""The pure core of flagd: model, validation, evaluation, snapshot codec, domain errors.

Standard library only, no I/O: the daemon, flagctl and the SDK all import it.
"""

from .context import Context, parse_context, split_context
from .engine import (
    BrokenFlag,
    CompiledSegment,
    TargetingFlag,
    compile_flag,
    compile_segment,
    evaluate,
    explain,
)
from .errors import (
    DuplicateKey,
    FlagdError,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    SegmentInUse,
    StoreUnavailable,
    ValidationError,
    VersionConflict,
)
from .evaluation import CompiledFlag, Evaluation, bucket, fnv1a32
from .flag import Action, Change, Flag, utc_now
from .flagset import FlagSet
from .references import check_flag_references, check_segment_unused, flags_using_segment
from .result import EvaluationResult
from .segment import Segment, SegmentRule
from .segment_validation import SegmentPatch, parse_segment_create, parse_segment_update
from .snapshot import Snapshot, encode_json
from .targeting import Clause, Prerequisite, Rule, Serve, SplitEntry, Target, Variant
from .validation import FlagPatch, is_uuid, is_valid_key, parse_create, parse_if_match, parse_update

__all__ = [
    "Action",
    "BrokenFlag",
    "Change",
    "Clause",
    "CompiledFlag",
    "CompiledSegment",
    "Context",
    "DuplicateKey",
    "Evaluation",
    "EvaluationResult",
    "Flag",
    "FlagPatch",
    "FlagSet",
    "FlagdError",
    "IdempotencyKeyReused",
    "InvalidRequest",
    "NotFound",
    "Prerequisite",
    "Rule",
    "Segment",
    "SegmentInUse",
    "SegmentPatch",
    "SegmentRule",
    "Serve",
    "Snapshot",
    "SplitEntry",
    "StoreUnavailable",
    "Target",
    "TargetingFlag",
    "ValidationError",
    "Variant",
    "VersionConflict",
    "bucket",
    "check_flag_references",
    "check_segment_unused",
    "compile_flag",
    "compile_segment",
    "encode_json",
    "evaluate",
    "explain",
    "flags_using_segment",
    "fnv1a32",
    "is_uuid",
    "is_valid_key",
    "parse_context",
    "parse_create",
    "parse_if_match",
    "parse_segment_create",
    "parse_segment_update",
    "parse_update",
    "split_context",
    "utc_now",
]
