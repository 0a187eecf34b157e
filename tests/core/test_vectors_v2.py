"""The Part II vectors (SPEC section 12) through every core entry point, on both hash paths.

The vector file's flags and segments are read as stored definitions (Flag.from_dict) and,
separately, written through validation (parse_create + new_flag): both must evaluate to
the same answers. tests/core/vectors_extra.json holds cases the shared file does not
pin; it is run the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flagd.core import (
    Context,
    Flag,
    FlagSet,
    Segment,
    TargetingFlag,
    check_flag_references,
    compile_flag,
    fnv1a32,
    parse_create,
    parse_segment_create,
)
from flagd.core.evaluation import hash_after_prefix
from flagd.core.mutations import new_flag, new_segment
from tests.conftest import VECTORS, VECTORS_V2

EXTRA = Path(__file__).with_name("vectors_extra.json")
DATA: dict[str, Any] = json.loads(VECTORS_V2.read_text(encoding="utf-8"))
EXTRA_DATA: dict[str, Any] = json.loads(EXTRA.read_text(encoding="utf-8"))
PART_ONE: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
NOW = "2024-01-01T00:00:00.000Z"


def stored_flag_set(data: dict[str, Any]) -> FlagSet:
    flags = [Flag.from_dict(flag) for flag in data["flags"].values()]
    segments = [Segment.from_dict(segment) for segment in data["segments"].values()]
    return FlagSet.from_flags(flags, 1, segments)


def written_flag_set(data: dict[str, Any]) -> FlagSet:
    """The same definitions as the admin API would store them."""
    segments = {
        key: new_segment(parse_segment_create(body), f"segment-{key}", NOW)
        for key, body in data["segments"].items()
    }
    flags = {
        key: new_flag(parse_create(body), f"flag-{key}", NOW, lambda: "generated")
        for key, body in data["flags"].items()
    }
    for flag in flags.values():
        check_flag_references(flag, flags, segments)
    return FlagSet.from_flags(flags.values(), 1, segments.values())


STORED = stored_flag_set(DATA)
EXTRA_STORED = stored_flag_set(EXTRA_DATA)


def params(data: dict[str, Any]) -> list[Any]:
    return [pytest.param(vector, id=vector["name"]) for vector in data["evaluations"]]


def wire(result: Any) -> str:
    """JSON text: true and 1, 1 and 1.0 differ here, as on the wire."""
    return json.dumps(result, ensure_ascii=False, sort_keys=True)


def check_vector(flags: FlagSet, vector: dict[str, Any]) -> None:
    key, context, expected = vector["flag"], vector["context"], vector["expected"]
    default = vector.get("default")
    result = flags.evaluate(key, context, default)
    assert wire(result.to_dict()) == wire(expected)
    # evaluate_all answers the same, for this key and among all keys.
    assert flags.evaluate_all(context, [key], {key: default})[key] == result
    if key in flags.by_key:
        assert flags.evaluate_all(context)[key].to_dict() == flags.evaluate(key, context).to_dict()
        compiled = flags.by_key[key]
        assert compiled.evaluate(context, flags, default) == result
    # is_enabled agrees on a boolean flag and gives the default otherwise.
    boolean = key in flags.by_key and flags.by_key[key].flag.type == "boolean"
    if boolean and expected["reason"] != "ERROR":
        assert flags.is_enabled(key, context, default=not expected["value"]) is expected["value"]
    else:
        assert flags.is_enabled(key, context, default=True) is True
        assert flags.is_enabled(key, context, default=False) is False
    # A context without attributes has two other spellings.
    if "key" in context and not context.get("attributes"):
        for spelling in (context["key"], Context(context["key"])):
            assert flags.evaluate(key, spelling, default) == result


def test_vector_file_has_every_section() -> None:
    assert len(DATA["evaluations"]) >= 237 and len(DATA["buckets"]) >= 35
    assert DATA["flags"] and DATA["segments"]


@pytest.mark.parametrize("vector", params(DATA))
def test_evaluation(vector: dict[str, Any], hash_path: str) -> None:
    check_vector(STORED, vector)


@pytest.fixture(scope="module")
def written() -> FlagSet:
    return written_flag_set(DATA)


@pytest.mark.parametrize("vector", params(DATA))
def test_evaluation_of_written_definitions(
    vector: dict[str, Any], written: FlagSet, hash_path: str
) -> None:
    check_vector(written, vector)


@pytest.mark.parametrize("vector", params(EXTRA_DATA))
def test_extra_evaluation(vector: dict[str, Any], hash_path: str) -> None:
    check_vector(EXTRA_STORED, vector)


@pytest.mark.parametrize(
    "vector", [pytest.param(v, id=f"{v['flag_key']}:{v['bucket_value']}") for v in DATA["buckets"]]
)
def test_bucket(vector: dict[str, Any], hash_path: str) -> None:
    key, value = vector["flag_key"], vector["bucket_value"]
    full = fnv1a32(f"{key}:{value}".encode())
    assert full % 100_000 == vector["bucket_100000"]
    prefix = f"{key}:".encode()
    assert hash_after_prefix(prefix, fnv1a32(prefix), value) == full


def test_no_vector_flag_compiles_to_a_broken_flag() -> None:
    for key, compiled in STORED.by_key.items():
        assert isinstance(compiled, TargetingFlag) or compiled.flag.is_seed_model, key


@pytest.mark.parametrize("key", sorted(DATA["flags"]))
def test_vector_flags_round_trip_through_json(key: str) -> None:
    flag = Flag.from_dict(DATA["flags"][key])
    assert Flag.from_dict(flag.to_dict()) == flag
    assert Flag.from_dict(json.loads(json.dumps(flag.to_dict()))) == flag


# --- Part I's vectors through section 12's evaluate -----------------------------------------


@pytest.mark.parametrize("vector", PART_ONE["evaluations"])
def test_part_one_vectors_through_evaluate(vector: dict[str, Any], hash_path: str) -> None:
    flag = Flag.from_dict({"id": "i", **vector["flag"]})
    user = vector["user_id"]
    flags = FlagSet.from_flags([flag], 1)
    result = flags.evaluate(flag.key, user)
    assert result.value is vector["expected"]
    assert result.variant == ("on" if vector["expected"] else "off")
    if not flag.enabled:
        assert result.reason == "DISABLED"
    elif user in flag.targeted_users:
        assert result.reason == "TARGETING_MATCH"
    elif 0 < flag.rollout_percentage < 100:
        assert result.reason == "SPLIT"
        assert result.bucket == fnv1a32(f"{flag.key}:{user}".encode()) % 100
    else:
        assert (result.reason, result.bucket) == ("DEFAULT", None)
    assert compile_flag(flag).evaluate(user) == result
