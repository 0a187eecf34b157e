"""Instants for the before/after operators: RFC 3339 date-times and epoch milliseconds.

An instant is a number of milliseconds since 1970-01-01T00:00:00Z, kept exact: an int
when the date-time has at most three fraction digits, a Fraction beyond that, and an
epoch-millisecond number as given (Python compares int, float and Fraction exactly, so
`.0009` seconds and `0.9` ms compare as they should). Only the RFC 3339 `date-time`
production is accepted: `T` (or `t`), an explicit offset (`Z`, `z` or `±hh:mm`), seconds
00-59 (no leap second), a real calendar date. Numbers are never guessed to be seconds.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

Instant = int | float | Fraction

_DATE_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MS_PER_DAY = 86_400_000
# Beyond this many significant fraction digits (Python will not even read an int past 4300
# digits) a string is treated as no instant rather than failing the evaluation.
FRACTION_DIGITS_MAX = 1_000


def parse_rfc3339(text: str) -> Instant | None:
    match = _DATE_TIME_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zulu, sign, offset_hour, offset_minute = match.groups()[6:]
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset_minutes = 0
    if not zulu:
        if int(offset_hour) > 23 or int(offset_minute) > 59:
            return None
        offset_minutes = int(offset_hour) * 60 + int(offset_minute)
        if sign == "-":
            offset_minutes = -offset_minutes
    seconds = (hour * 60 + minute - offset_minutes) * 60 + second
    millis = _days_from_civil(year, month, day) * _MS_PER_DAY + seconds * 1000
    if not fraction:
        return millis
    fraction = fraction.rstrip("0") or "0"
    if len(fraction) > FRACTION_DIGITS_MAX:
        return None
    if len(fraction) <= 3:
        return millis + int(fraction.ljust(3, "0"))
    return millis + Fraction(int(fraction), 10 ** (len(fraction) - 3))


def instant_of(value: object) -> Instant | None:
    """The instant a clause value or attribute denotes, or None when it denotes none."""
    if isinstance(value, str):
        return cached_parse_rfc3339(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


# The same timestamps recur across calls; a bounded cache keeps the regex off the hot path.
cached_parse_rfc3339 = lru_cache(maxsize=4096)(parse_rfc3339)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468
