"""FlagSet, contexts and results: the calls consumers make, which never raise."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest

from flagd.core import (
    BrokenFlag,
    Context,
    EvaluationResult,
    Flag,
    FlagSet,
    Segment,
    Snapshot,
    TargetingFlag,
    ValidationError,
    compile_flag,
    explain,
    parse_context,
    split_context,
)
from flagd.core.context import NO_ATTRIBUTES

SEED = Flag("i", "seed", "", True, 100, ("t",), 1, "", "")
STRING = Flag.from_dict({
    "key": "banner", "type": "string", "enabled": True,
    "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}], "off_variant": "a",
    "rules": [{"id": "de", "clauses": [{"attribute": "country", "op": "in", "values": ["DE"]}],
               "serve": {"variant": "b"}}],
    "fallthrough": {"variant": "a"},
})  # fmt: skip
BROKEN = Flag.from_dict({**STRING.to_dict(), "key": "broken", "off_variant": "zzz"})
FLAGS = FlagSet.from_flags([SEED, STRING, BROKEN], 7)


# --- contexts ------------------------------------------------------------------------------


class Text(str):
    pass


@pytest.mark.parametrize(
    ("context", "key", "attributes"),
    [
        ("u", "u", {}),
        ("", "", {}),
        (Text("u"), "u", {}),
        (Context("u", {"a": 1}), "u", {"a": 1}),
        (Context(None), None, {}),
        ({"key": "u", "attributes": {"a": 1}}, "u", {"a": 1}),
        ({"key": "u"}, "u", {}),
        ({"key": "u", "attributes": None}, "u", {}),
        ({"key": "u", "attributes": [1]}, "u", {}),
        (MappingProxyType({"key": "u", "attributes": MappingProxyType({"a": 1})}), "u", {"a": 1}),
        ({"attributes": {"a": 1}}, None, {"a": 1}),
        ({"key": None}, None, {}),
        ({"key": 42}, None, {}),
        (None, None, {}),
        (42, None, {}),
        (["u"], None, {}),
    ],
)
def test_split_context(context: Any, key: str | None, attributes: dict[str, Any]) -> None:
    assert split_context(context) == (key, attributes)


def test_parse_context_accepts_the_wire_form() -> None:
    body = {
        "key": "u",
        "attributes": {"a": "x", "n": 1.5, "b": True, "l": ["x", 2, False], "z": None},
    }
    assert parse_context(body) == Context("u", body["attributes"])
    assert parse_context({}) == Context(None)
    assert parse_context({"key": "u"}).attributes == NO_ATTRIBUTES


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("u", "context"),
        ({"key": 42}, "context.key"),
        ({"key": "u", "attributes": []}, "context.attributes"),
        ({"key": "u", "attributes": {"a": {"b": 1}}}, "context.attributes.a"),
        ({"key": "u", "attributes": {"a": [["x"]]}}, "context.attributes.a"),
        ({"key": "u", "attributes": {"a": [None]}}, "context.attributes.a"),
        ({"key": "u", "attributes": {"a": float("nan")}}, "context.attributes.a"),
        ({"key": "u", "attributes": {"": 1}}, "context.attributes."),
    ],
)
def test_parse_context_rejects(body: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_context(body)
    assert caught.value.field == field


# --- never raising -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context", [None, 42, 4.2, ["u"], {"key": ["u"]}, object(), "\ud800", b"u"]
)
@pytest.mark.parametrize("key", ["seed", "banner", "broken", "absent"])
def test_evaluation_never_raises(context: Any, key: str) -> None:
    result = FLAGS.evaluate(key, context, "dflt")
    assert isinstance(result, EvaluationResult)
    if result.reason == "ERROR":
        assert (result.value, result.variant) == ("dflt", None)
    assert FLAGS.is_enabled(key, context, True) in (True, False)
    assert FLAGS.evaluate_all(context)[key if key != "absent" else "seed"].reason
    FLAGS.explain(key, "u")


def test_a_lone_surrogate_key_gives_the_default() -> None:
    """Part I's is_enabled raised on it; the FlagSet answers the default."""
    seed = Flag("i", "half", "", True, 50, (), 1, "", "")
    flags = FlagSet.from_flags([seed], 1)
    assert flags.is_enabled("half", "\ud800", default=True) is True
    result = flags.evaluate("half", "\ud800", default=True)
    assert (result.value, result.reason, result.error_code) == (True, "ERROR", "GENERAL")


def test_a_definition_it_cannot_evaluate_gives_general() -> None:
    assert isinstance(FLAGS.by_key["broken"], BrokenFlag)
    assert FLAGS.evaluate("broken", "u", "x").to_dict() == {
        "value": "x", "variant": None, "reason": "ERROR", "error_code": "GENERAL"
    }  # fmt: skip
    assert FLAGS.is_enabled("broken", "u", True) is True
    assert explain(BROKEN, "u").reason == "not_found"


def test_is_enabled_on_a_non_boolean_flag_gives_the_default() -> None:
    assert FLAGS.is_enabled("banner", {"key": "u", "attributes": {"country": "DE"}}) is False
    assert FLAGS.is_enabled("banner", "u", default=True) is True


# --- evaluate_all --------------------------------------------------------------------------


def test_evaluate_all_answers_each_flag_and_each_requested_key() -> None:
    context = {"key": "u", "attributes": {"country": "DE"}}
    everything = FLAGS.evaluate_all(context)
    assert list(everything) == ["seed", "banner", "broken"]
    assert everything["banner"].value == "B"
    assert everything["broken"].error_code == "GENERAL"
    some = FLAGS.evaluate_all(context, ["banner", "nope"], {"nope": 3, "banner": "x"})
    assert some["nope"].to_dict() == {
        "value": 3,
        "variant": None,
        "reason": "ERROR",
        "error_code": "FLAG_NOT_FOUND",
    }
    assert some["banner"].value == "B"
    missing = FLAGS.evaluate_all({"attributes": {}}, defaults={"seed": True})
    assert {r.error_code for r in missing.values()} == {"TARGETING_KEY_MISSING"}
    assert missing["seed"].value is True


# --- copy-on-write -------------------------------------------------------------------------


def test_updates_return_a_new_set_and_leave_the_old_one() -> None:
    off = Flag("i", "seed", "", False, 100, (), 2, "", "")
    changed = FLAGS.with_flag(off, revision=8)
    assert changed.is_enabled("seed", "u") is False and FLAGS.is_enabled("seed", "u") is True
    assert changed.by_key["banner"] is FLAGS.by_key["banner"]
    assert (changed.revision, FLAGS.revision) == (8, 7)
    removed = changed.without_flag("seed")
    assert "seed" not in removed.by_key and removed.revision == 8
    assert removed.evaluate("seed", "u").error_code == "FLAG_NOT_FOUND"


def test_snapshot_carries_segments_only_when_there_are_some() -> None:
    plain = Snapshot(3, (SEED,))
    assert set(plain.to_dict()) == {"flags", "revision"}
    segment = Segment("s-id", "s", "", ("u",), (), (), 1, "", "")
    snapshot = Snapshot(3, (SEED, STRING), (segment,))
    again = Snapshot.from_json(snapshot.to_json())
    assert again == snapshot
    assert json.loads(snapshot.to_json())["segments"][0]["key"] == "s"
    assert again.flag_set().segments["s"].contains("u", {}, again.flag_set())


def test_part_one_functions_accept_part_two_flags() -> None:
    compiled = compile_flag(STRING)
    assert compiled.is_enabled("u") is False  # a string flag is not "on"
    assert explain(STRING, "u").reason == "rollout"
    rules = Flag.from_dict({"key": "r", "enabled": True, "targeted_users": ["t"],
                            "targets": [{"variant": "off", "users": ["x"]}]})  # fmt: skip
    assert (explain(rules, "t").reason, explain(rules, "x").reason) == ("targeted", "targeted")
    assert (explain(rules, "t").enabled, explain(rules, "x").enabled) == (True, False)


# --- prerequisites are evaluated once per flag and call --------------------------------------


def test_a_wide_prerequisite_graph_evaluates_each_flag_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Levels of 6 flags, each requiring all 6 of the next level: without sharing answers
    one call would evaluate 6**5 flags; a definition must not be able to stall an SDK."""
    levels, width = 5, 6

    def requires(level: int) -> list[dict[str, Any]]:
        if level == levels:
            return []
        return [{"flag": f"l{level + 1}-{m}", "variants": ["on"]} for m in range(width)]

    flags = [
        Flag.from_dict({"key": f"l{level}-{n}", "enabled": True, "rollout_percentage": 100,
                        "prerequisites": requires(level)})
        for level in range(levels + 1)
        for n in range(width)
    ]  # fmt: skip
    flag_set = FlagSet.from_flags(flags, 1)
    calls = 0
    decide = TargetingFlag.decide

    def counting(self: TargetingFlag, *args: Any, **kwargs: Any) -> EvaluationResult:
        nonlocal calls
        calls += 1
        return decide(self, *args, **kwargs)

    monkeypatch.setattr(TargetingFlag, "decide", counting)
    assert flag_set.evaluate("l0-0", "u").to_dict() == {
        "value": True,
        "variant": "on",
        "reason": "DEFAULT",
    }
    assert calls <= levels * width + 1
