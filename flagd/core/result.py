"""The answer of an evaluation (SPEC section 12): value, variant, reason and where it came from.

`EvaluationResult` is a NamedTuple rather than a frozen dataclass because a split builds a
new one per call and a frozen dataclass costs about three times as much to construct.
Every answer that does not carry a bucket is built once, when its flag is compiled.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NamedTuple

Reason = Literal["DISABLED", "PREREQUISITE_FAILED", "TARGETING_MATCH", "SPLIT", "DEFAULT", "ERROR"]
ErrorCode = Literal["FLAG_NOT_FOUND", "TARGETING_KEY_MISSING", "GENERAL"]

DISABLED: Final = "DISABLED"
PREREQUISITE_FAILED: Final = "PREREQUISITE_FAILED"
TARGETING_MATCH: Final = "TARGETING_MATCH"
SPLIT: Final = "SPLIT"
DEFAULT: Final = "DEFAULT"
ERROR: Final = "ERROR"

FLAG_NOT_FOUND: Final = "FLAG_NOT_FOUND"
TARGETING_KEY_MISSING: Final = "TARGETING_KEY_MISSING"
GENERAL: Final = "GENERAL"


class EvaluationResult(NamedTuple):
    value: Any
    variant: str | None  # None exactly when reason is ERROR
    reason: Reason
    error_code: ErrorCode | None = None
    rule_index: int | None = None  # 0-based, when a rule decided
    rule_id: str | None = None
    bucket: int | None = None  # only with reason SPLIT

    def to_dict(self) -> dict[str, Any]:
        """The wire form: the vectors' `expected` object, optional keys only when they apply."""
        data: dict[str, Any] = {"value": self.value, "variant": self.variant, "reason": self.reason}
        if self.error_code is not None:
            data["error_code"] = self.error_code
        if self.rule_index is not None:
            data["rule_index"] = self.rule_index
            data["rule_id"] = self.rule_id
        if self.bucket is not None:
            data["bucket"] = self.bucket
        return data


def error_result(default: Any, code: ErrorCode) -> EvaluationResult:
    return EvaluationResult(default, None, "ERROR", code)
