"""Strict SemVer 2.0.0 (semver.org): parsing and precedence, for the semver_* operators.

`precedence_key` maps a version to a tuple that Python orders exactly as section 11 of
the standard orders versions: numeric fields numerically, a pre-release below its release,
pre-release identifiers one by one (numeric ones numerically and below alphanumeric ones,
which compare in ASCII order), a longer identifier list above its prefix. Build metadata
is dropped: it takes no part in precedence. Anything outside the grammar (`v1.2.3`, `1.2`,
leading zeros) is not a version and parses to None.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The grammar of semver.org, ASCII digits only ([0-9], not \d, which admits other scripts).
_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER_RE = re.compile(
    rf"({_NUMBER})\.({_NUMBER})\.({_NUMBER})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)

PreReleaseId = tuple[int, int] | tuple[int, str]
PrecedenceKey = tuple[int, int, int, tuple[int | PreReleaseId, ...]]

_RELEASE = (1,)  # sorts above every pre-release tuple, which starts with 0


def precedence_key(version: str) -> PrecedenceKey | None:
    match = _SEMVER_RE.fullmatch(version)
    if match is None:
        return None
    major, minor, patch, pre_release = match.groups()
    if pre_release is None:
        return int(major), int(minor), int(patch), _RELEASE
    identifiers: list[int | PreReleaseId] = [0]
    for identifier in pre_release.split("."):
        identifiers.append((0, int(identifier)) if identifier.isdigit() else (1, identifier))
    return int(major), int(minor), int(patch), tuple(identifiers)


# Context attributes repeat (a handful of app versions across millions of calls): a bounded
# cache turns the regex into a dict lookup for them.
cached_precedence_key = lru_cache(maxsize=4096)(precedence_key)
