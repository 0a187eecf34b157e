"""The two parsers section 12 pins: RFC 3339 instants and SemVer 2.0.0 precedence."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from flagd.core import Flag, FlagSet
from flagd.core.instants import instant_of, parse_rfc3339
from flagd.core.semver import precedence_key

EPOCH_2024 = 1_704_067_200_000


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-01-01T00:00:00Z", EPOCH_2024),
        ("2024-01-01t00:00:00z", EPOCH_2024),
        ("2024-01-01T01:00:00+01:00", EPOCH_2024),
        ("2023-12-31T19:00:00-05:00", EPOCH_2024),
        ("2024-01-01T00:00:00-00:00", EPOCH_2024),
        ("2024-01-01T00:00:00.5Z", EPOCH_2024 + 500),
        ("2024-01-01T00:00:00.500000000Z", EPOCH_2024 + 500),
        ("2024-01-01T00:00:00.0001Z", EPOCH_2024 + Fraction(1, 10)),
        ("2000-02-29T00:00:00Z", 951_782_400_000),
        ("1969-12-31T23:59:59Z", -1000),
        ("0000-01-01T00:00:00Z", -62_167_219_200_000),
    ],
)
def test_rfc3339_instants(text: str, millis: int | Fraction) -> None:
    assert parse_rfc3339(text) == millis


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01",
        "2024-01-01T00:00:00",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+01:60",
        "2024-01-01T00:00:00+0100",
        "2024-01-01T00:00:00.Z",
        "\uff12\uff10\uff12\uff14-01-01T00:00:00Z",  # full-width digits
        " 2024-01-01T00:00:00Z",
        "",
    ],
)
def test_not_rfc3339_instants(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_a_fraction_too_long_to_read_is_no_instant_rather_than_an_error() -> None:
    """Python refuses int() of more than 4300 digits; the parser raised with it."""
    text = "2024-01-01T00:00:00." + "1" * 5000 + "Z"
    assert parse_rfc3339(text) is None
    assert parse_rfc3339("2024-01-01T00:00:00." + "0" * 5000 + "Z") == EPOCH_2024
    flag = Flag.from_dict({
        "key": "f", "type": "string", "enabled": True, "off_variant": "no",
        "variants": [{"key": "yes", "value": "y"}, {"key": "no", "value": "n"}],
        "rules": [{"id": "r", "clauses": [{"attribute": "seen", "op": "after", "values": [0]}],
                   "serve": {"variant": "yes"}}],
        "fallthrough": {"variant": "no"},
    })  # fmt: skip
    result = FlagSet.from_flags([flag], 1).evaluate("f", {"key": "u", "attributes": {"seen": text}})
    assert (result.reason, result.variant) == ("DEFAULT", "no")


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        (EPOCH_2024, EPOCH_2024),
        (1.5, 1.5),
        (True, None),
        (float("nan"), None),
        (None, None),
        ([1], None),
    ],
)
def test_instant_of_numbers(value: object, instant: object) -> None:
    assert instant_of(value) == instant


def test_semver_precedence_follows_the_standard() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0"]  # fmt: skip
    keys = [precedence_key(version) for version in ordered]
    assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(keys))
    assert precedence_key("1.0.0+build.1") == precedence_key("1.0.0")
    assert precedence_key("1.0.0-Beta") < precedence_key("1.0.0-beta")  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    ["1.2", "v1.2.3", "01.2.3", "1.02.3", "1.2.03", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b",
     "1.2.3-a_b", "\uff11.2.3", "1.2.3-٣", " 1.2.3", "1.2.3.4", ""],
)  # fmt: skip
def test_not_semver(text: str) -> None:
    assert precedence_key(text) is None
