"""Admin REST API: create, read, partial update, If-Match, toggle, delete (SPEC 3, 5, 11)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.daemon import Flagd

from .helpers import (
    assert_error,
    assert_flag_shape,
    assert_validation_error,
    client_flag,
    create,
    is_json,
    parse_time,
    revision,
    unique_key,
    wait_past,
)

FLAGS = "/api/admin/flags"


def flag_path(ref: str) -> str:
    return f"{FLAGS}/{ref}"


# --- create -------------------------------------------------------------------------------


def test_create_returns_201_with_every_field_and_defaults(admin: httpx.Client) -> None:
    key = unique_key("create")
    response = admin.post(FLAGS, json={"key": key})
    assert response.status_code == 201, response.text
    assert is_json(response)
    flag = response.json()
    assert_flag_shape(flag)
    assert flag["key"] == key
    assert flag["description"] == ""
    assert flag["enabled"] is False
    assert flag["rollout_percentage"] == 0
    assert flag["targeted_users"] == []
    assert flag["version"] == 1
    assert flag["created_at"] == flag["updated_at"]
    location = response.headers["Location"]
    assert location.endswith(f"/api/admin/flags/{flag['id']}")
    # The Location names the new flag.
    fetched = admin.get(location)
    assert fetched.status_code == 200
    assert fetched.json() == flag


def test_create_with_every_field(admin: httpx.Client) -> None:
    key = unique_key("full")
    body = {
        "key": key,
        "description": "New checkout flow",
        "enabled": True,
        "rollout_percentage": 25,
        "targeted_users": ["alice", "bob"],
    }
    flag = create(admin, **body)
    assert_flag_shape(flag)
    assert {name: flag[name] for name in body} == body
    assert flag["version"] == 1


def test_create_boundaries_accepted(admin: httpx.Client) -> None:
    key64 = ("k" * 55 + "-" + unique_key("")[1:])[:64]
    assert len(key64) == 64
    assert create(admin, key64)["key"] == key64
    assert create(admin, rollout_percentage=0)["rollout_percentage"] == 0
    assert create(admin, rollout_percentage=100)["rollout_percentage"] == 100
    assert create(admin, description="")["description"] == ""
    assert create(admin, enabled=False)["enabled"] is False
    user256 = "u" * 256
    assert create(admin, targeted_users=[user256])["targeted_users"] == [user256]


def test_description_length_counts_code_points(admin: httpx.Client) -> None:
    # 256 code points outside the BMP: 1,024 UTF-8 bytes and 512 UTF-16 units, still valid.
    emoji = "\U0001f600" * 256
    assert create(admin, description=emoji)["description"] == emoji
    accents = "é" * 256
    assert create(admin, description=accents)["description"] == accents
    mixed_user = "ü" * 256
    assert create(admin, targeted_users=[mixed_user])["targeted_users"] == [mixed_user]
    emoji_user = "\U0001f600" * 256
    assert create(admin, targeted_users=[emoji_user])["targeted_users"] == [emoji_user]
    response = admin.post(FLAGS, json={"key": unique_key(), "targeted_users": ["ü" * 257]})
    assert_validation_error(response, "targeted_users")
    response = admin.post(FLAGS, json={"key": unique_key(), "description": "é" * 257})
    assert_validation_error(response, "description")
    response = admin.post(FLAGS, json={"key": unique_key(), "description": "x" * 257})
    assert_validation_error(response, "description")


def test_duplicate_key_is_409(admin: httpx.Client, client: httpx.Client) -> None:
    key = unique_key("dup")
    first = create(admin, key, description="first")
    before = revision(client)
    response = admin.post(FLAGS, json={"key": key, "description": "second"})
    assert_error(response, 409, "duplicate_key")
    assert revision(client) == before
    assert admin.get(flag_path(key)).json() == first


def test_keys_are_case_sensitive(admin: httpx.Client) -> None:
    suffix = unique_key("")[1:]
    upper = create(admin, f"Dark-Mode{suffix}", description="upper")
    lower = create(admin, f"dark-mode{suffix}", description="lower")
    assert upper["id"] != lower["id"]
    assert admin.get(flag_path(f"Dark-Mode{suffix}")).json()["description"] == "upper"
    assert admin.get(flag_path(f"dark-mode{suffix}")).json()["description"] == "lower"
    assert_error(admin.get(flag_path(f"DARK-MODE{suffix}")), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "key"),
        ({"description": "no key"}, "key"),
        ({"key": None}, "key"),
        ({"key": ""}, "key"),
        ({"key": 123}, "key"),
        ({"key": ["a"]}, "key"),
        ({"key": "dark_mode"}, "key"),
        ({"key": "dark mode"}, "key"),
        ({"key": "dark.mode"}, "key"),
        ({"key": "dark/mode"}, "key"),
        ({"key": "dunkel-ä"}, "key"),
        ({"key": " padded"}, "key"),
        ({"key": "trailing-newline\n"}, "key"),
        ({"key": "tab\tkey"}, "key"),
        ({"key": "\uff21\uff22\uff23"}, "key"),
        ({"key": "k" * 65}, "key"),
        ({"key": "OK", "description": 5}, "description"),
        ({"key": "OK", "description": "x" * 257}, "description"),
        ({"key": "OK", "rollout_percentage": 50.0}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": 50.5}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": True}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": "50"}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": -1}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": 101}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": 10**20}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": 100.0}, "rollout_percentage"),
        ({"key": "OK", "rollout_percentage": [50]}, "rollout_percentage"),
        ({"key": "OK", "enabled": "true"}, "enabled"),
        ({"key": "OK", "enabled": 1}, "enabled"),
        ({"key": "OK", "enabled": 0}, "enabled"),
        ({"key": "OK", "targeted_users": "alice"}, "targeted_users"),
        ({"key": "OK", "targeted_users": {"alice": True}}, "targeted_users"),
        ({"key": "OK", "targeted_users": ["alice", 7]}, "targeted_users"),
        ({"key": "OK", "targeted_users": [None]}, "targeted_users"),
        ({"key": "OK", "targeted_users": [["nested"]]}, "targeted_users"),
        ({"key": "OK", "targeted_users": ["alice", ""]}, "targeted_users"),
        ({"key": "OK", "targeted_users": ["u" * 257]}, "targeted_users"),
    ],
)
def test_create_validation_errors(
    admin: httpx.Client, client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    if body.get("key") == "OK":
        body = {**body, "key": unique_key("invalid")}
    before = revision(client)
    assert_validation_error(admin.post(FLAGS, json=body), field)
    assert revision(client) == before


def test_targeted_users_over_the_limit(admin: httpx.Client) -> None:
    users = [f"user-{i}" for i in range(10_001)]
    body = assert_validation_error(
        admin.post(FLAGS, json={"key": unique_key(), "targeted_users": users}), "targeted_users"
    )
    assert "10000" in body["message"].replace(",", "") or "10 000" in body["message"]


def test_targeted_users_limit_counts_after_duplicates_collapse(admin: httpx.Client) -> None:
    users = [f"user-{i}" for i in range(10_000)] + ["user-0", "user-9999"]
    flag = create(admin, targeted_users=users)
    assert len(flag["targeted_users"]) == 10_000
    assert admin.delete(flag_path(flag["id"])).status_code == 204


def test_targeted_users_duplicates_collapse_keeping_first_order(admin: httpx.Client) -> None:
    flag = create(admin, targeted_users=["carol", "alice", "carol", "bob", "alice", "Alice"])
    assert flag["targeted_users"] == ["carol", "alice", "bob", "Alice"]
    assert admin.get(flag_path(flag["key"])).json()["targeted_users"] == flag["targeted_users"]


def test_largest_valid_flag_fits_the_default_body_limit(
    admin: httpx.Client, client: httpx.Client
) -> None:
    users = [f"{i:06d}" + "x" * 250 for i in range(10_000)]
    assert all(len(user) == 256 for user in users)
    key = unique_key("largest")
    payload = json.dumps({"key": key, "description": "d" * 256, "targeted_users": users})
    assert 2_500_000 < len(payload) < 4 * 1024 * 1024
    response = admin.post(
        FLAGS, content=payload.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text[:300]
    assert response.json()["targeted_users"] == users
    assert admin.get(flag_path(key)).json()["targeted_users"] == users
    seen = client_flag(client, key)
    assert seen is not None and seen["targeted_users"] == users
    # Keep the shared daemon's client view small for the other tests.
    assert admin.delete(flag_path(key)).status_code == 204


def test_null_means_not_given_on_create(admin: httpx.Client) -> None:
    flag = create(
        admin, description=None, enabled=None, rollout_percentage=None, targeted_users=None
    )
    assert flag["description"] == ""
    assert flag["enabled"] is False
    assert flag["rollout_percentage"] == 0
    assert flag["targeted_users"] == []


def test_unknown_and_server_set_fields_are_ignored(admin: httpx.Client) -> None:
    fake_id = "00000000-0000-4000-8000-000000000000"
    flag = create(
        admin,
        id=fake_id,
        version=42,
        created_at="2001-01-01T00:00:00Z",
        updated_at="2001-01-01T00:00:00Z",
        colour="blue",
        # Part I used `rules` as its example of an unknown field; SPEC section 12 made it a
        # real one (a malformed rule is a 400), so another unknown name stands in for it.
        workflow=[{"a": 1}],
    )
    assert flag["id"] != fake_id
    assert flag["version"] == 1
    assert not flag["created_at"].startswith("2001")
    assert "colour" not in flag and "workflow" not in flag
    assert_error(admin.get(flag_path(fake_id)), 404, "not_found")


# --- read ---------------------------------------------------------------------------------


def test_list_is_newest_first_and_updates_do_not_reorder(admin: httpx.Client) -> None:
    keys = [unique_key(f"order{i}") for i in range(3)]
    for key in keys:
        create(admin, key)

    def positions() -> list[str]:
        response = admin.get(FLAGS)
        assert response.status_code == 200
        assert is_json(response)
        listed = response.json()
        assert isinstance(listed, list)
        for flag in listed:
            assert_flag_shape(flag)
        return [flag["key"] for flag in listed if flag["key"] in keys]

    listed = admin.get(FLAGS).json()
    assert listed[0]["key"] == keys[2], "the newest flag comes first"
    assert positions() == keys[::-1]
    assert admin.put(flag_path(keys[0]), json={"description": "touched"}).status_code == 200
    assert admin.patch(flag_path(keys[1]) + "/toggle").status_code == 200
    assert positions() == keys[::-1]


def test_get_by_id_key_and_upper_case_id(admin: httpx.Client) -> None:
    flag = create(admin, description="lookup")
    for ref in (flag["id"], flag["key"], flag["id"].upper()):
        response = admin.get(flag_path(ref))
        assert response.status_code == 200, ref
        assert is_json(response)
        assert response.json() == flag
        assert response.headers["ETag"] == '"1"'


def test_etag_follows_the_version(admin: httpx.Client) -> None:
    flag = create(admin)
    admin.patch(flag_path(flag["key"]) + "/toggle")
    admin.put(flag_path(flag["key"]), json={"rollout_percentage": 5})
    response = admin.get(flag_path(flag["id"]))
    assert response.json()["version"] == 3
    assert response.headers["ETag"] == '"3"'


def test_uuid_shaped_key_that_is_not_an_id(admin: httpx.Client) -> None:
    uuid_key = "12345678-aaaa-bbbb-cccc-" + unique_key("")[1:].rjust(12, "0")[-12:]
    flag = create(admin, uuid_key)
    assert flag["id"] != uuid_key
    response = admin.get(flag_path(uuid_key))
    assert response.status_code == 200
    assert response.json()["id"] == flag["id"]
    # Keys are case-sensitive: the upper-case spelling is neither an id nor a key.
    assert_error(admin.get(flag_path(uuid_key.upper())), 404, "not_found")
    # An upper-case UUID-shaped key is found by key too.
    upper_key = "ABCDEF12-3456-7890-ABCD-" + unique_key("")[1:].upper().rjust(12, "0")[-12:]
    upper = create(admin, upper_key)
    assert admin.get(flag_path(upper_key)).json()["id"] == upper["id"]
    assert admin.patch(flag_path(upper_key) + "/toggle").json()["version"] == 2


def test_uuid_shaped_ref_is_tried_as_an_id_first(admin: httpx.Client) -> None:
    first = create(admin, description="first")
    # A second flag whose key is the first flag's id.
    second = create(admin, first["id"], description="second")
    assert admin.get(flag_path(first["id"])).json()["id"] == first["id"]
    assert admin.get(flag_path(first["id"].upper())).json()["id"] == first["id"]
    assert admin.get(flag_path(second["id"])).json()["id"] == second["id"]
    # Writes resolve refs the same way.
    toggled = admin.patch(flag_path(first["id"]) + "/toggle")
    assert toggled.json()["id"] == first["id"]
    assert admin.get(flag_path(second["id"])).json()["enabled"] is False


def test_unknown_refs_are_404(admin: httpx.Client) -> None:
    for ref in (unique_key("missing"), "00000000-0000-4000-8000-000000000000"):
        assert_error(admin.get(flag_path(ref)), 404, "not_found")


# --- update -------------------------------------------------------------------------------


def test_put_is_a_partial_update(admin: httpx.Client) -> None:
    flag = create(
        admin, description="keep me", enabled=True, rollout_percentage=30, targeted_users=["a"]
    )
    wait_past(flag["updated_at"])
    response = admin.put(flag_path(flag["key"]), json={"rollout_percentage": 60})
    assert response.status_code == 200, response.text
    assert is_json(response)
    updated = response.json()
    assert_flag_shape(updated)
    assert updated["rollout_percentage"] == 60
    assert updated["description"] == "keep me"
    assert updated["enabled"] is True
    assert updated["targeted_users"] == ["a"]
    assert updated["id"] == flag["id"] and updated["key"] == flag["key"]
    assert updated["version"] == 2
    assert updated["created_at"] == flag["created_at"]
    assert updated["updated_at"] != flag["updated_at"]
    assert parse_time(updated["updated_at"]) > parse_time(flag["updated_at"])
    assert admin.get(flag_path(flag["id"])).json() == updated


def test_put_every_field_and_clear_targeted_users(admin: httpx.Client) -> None:
    flag = create(admin, targeted_users=["a", "b"])
    body = {"description": "new", "enabled": True, "rollout_percentage": 100}
    updated = admin.put(flag_path(flag["id"]), json=body).json()
    assert {name: updated[name] for name in body} == body
    assert updated["targeted_users"] == ["a", "b"]
    assert updated["version"] == 2
    cleared = admin.put(flag_path(flag["id"]), json={"targeted_users": []})
    assert cleared.status_code == 200
    assert cleared.json()["targeted_users"] == []
    assert cleared.json()["version"] == 3
    dedup = admin.put(flag_path(flag["id"]), json={"targeted_users": ["z", "y", "z"]})
    assert dedup.json()["targeted_users"] == ["z", "y"]
    emptied = admin.put(flag_path(flag["id"]), json={"description": ""})
    assert emptied.json()["description"] == ""


def test_put_version_counts_changes(admin: httpx.Client) -> None:
    flag = create(admin)
    versions = []
    for percentage in (10, 20, 30):
        versions.append(
            admin.put(flag_path(flag["key"]), json={"rollout_percentage": percentage}).json()[
                "version"
            ]
        )
    assert versions == [2, 3, 4]


def test_put_with_same_key_is_allowed(admin: httpx.Client) -> None:
    flag = create(admin)
    response = admin.put(flag_path(flag["id"]), json={"key": flag["key"], "enabled": True})
    assert response.status_code == 200
    assert response.json()["key"] == flag["key"]
    assert response.json()["enabled"] is True


def test_put_with_a_different_key_is_400(admin: httpx.Client, client: httpx.Client) -> None:
    flag = create(admin)
    before = revision(client)
    for other in (flag["key"] + "-x", flag["key"].upper(), "bad key!"):
        assert_validation_error(admin.put(flag_path(flag["id"]), json={"key": other}), "key")
    assert revision(client) == before
    assert admin.get(flag_path(flag["id"])).json() == flag


def test_noop_put_records_nothing(admin: httpx.Client, client: httpx.Client) -> None:
    flag = create(
        admin, description="same", enabled=True, rollout_percentage=5, targeted_users=["u1", "u2"]
    )
    before = revision(client)
    for body in (
        {},
        {"description": "same"},
        {"enabled": True, "rollout_percentage": 5},
        {"targeted_users": ["u1", "u2"]},
        {"targeted_users": ["u1", "u2", "u1"]},
        {"key": flag["key"], "description": None, "enabled": None},
        {"version": 99, "id": "whatever", "unknown": 1},
    ):
        response = admin.put(flag_path(flag["key"]), json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == flag, body
        assert response.headers["ETag"] == '"1"'
    assert revision(client) == before
    assert admin.get(flag_path(flag["key"])).json() == flag


def test_put_validation_errors(admin: httpx.Client) -> None:
    flag = create(admin)
    cases = [
        ({"rollout_percentage": 50.0}, "rollout_percentage"),
        ({"rollout_percentage": 101}, "rollout_percentage"),
        ({"enabled": "false"}, "enabled"),
        ({"description": "x" * 257}, "description"),
        ({"targeted_users": [""]}, "targeted_users"),
        ({"targeted_users": "alice"}, "targeted_users"),
    ]
    for body, field in cases:
        assert_validation_error(admin.put(flag_path(flag["id"]), json=body), field)
    assert admin.get(flag_path(flag["id"])).json()["version"] == 1


def test_put_unknown_ref_is_404(admin: httpx.Client) -> None:
    assert_error(admin.put(flag_path(unique_key("nope")), json={"enabled": True}), 404, "not_found")


# --- If-Match -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["{v}", '"{v}"', 'W/"{v}"'])
def test_if_match_forms_on_put_toggle_and_delete(admin: httpx.Client, form: str) -> None:
    flag = create(admin)

    def header(version: int) -> dict[str, str]:
        return {"If-Match": form.format(v=version)}

    put = admin.put(flag_path(flag["key"]), json={"enabled": True}, headers=header(1))
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2
    toggle = admin.patch(flag_path(flag["key"]) + "/toggle", headers=header(2))
    assert toggle.status_code == 200, toggle.text
    assert toggle.json()["version"] == 3
    # Stale versions are refused on every write.
    assert_error(
        admin.put(flag_path(flag["key"]), json={"enabled": True}, headers=header(2)),
        412,
        "version_conflict",
    )
    assert_error(
        admin.patch(flag_path(flag["key"]) + "/toggle", headers=header(1)), 412, "version_conflict"
    )
    assert_error(admin.delete(flag_path(flag["key"]), headers=header(4)), 412, "version_conflict")
    assert admin.get(flag_path(flag["key"])).json()["version"] == 3
    delete = admin.delete(flag_path(flag["key"]), headers=header(3))
    assert delete.status_code == 204
    assert_error(admin.get(flag_path(flag["key"])), 404, "not_found")


def test_stale_if_match_changes_nothing(admin: httpx.Client, client: httpx.Client) -> None:
    flag = create(admin)
    before = revision(client)
    assert_error(
        admin.put(flag_path(flag["id"]), json={"description": "x"}, headers={"If-Match": "7"}),
        412,
        "version_conflict",
    )
    assert revision(client) == before
    assert admin.get(flag_path(flag["id"])).json() == flag


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "*",
        "3,4",
        '"1", "2"',
        "",
        "W/1",
        'w/"1"',
        "-1",
        "1.0",
        "0x1",
        '"1',
        "99999999999999999999999999",
        "\uff11",
    ],
)
def test_garbage_if_match_is_400(admin: httpx.Client, value: str) -> None:
    flag = create(admin)
    headers = {"If-Match": value.encode()}
    put = admin.put(flag_path(flag["key"]), json={"enabled": True}, headers=headers)
    assert_error(put, 400, "invalid_request")
    assert_error(
        admin.patch(flag_path(flag["key"]) + "/toggle", headers=headers), 400, "invalid_request"
    )
    assert_error(admin.delete(flag_path(flag["key"]), headers=headers), 400, "invalid_request")
    assert admin.get(flag_path(flag["key"])).json() == flag


def test_check_order_401_404_400_412(flagd: Flagd, admin: httpx.Client) -> None:
    flag = create(admin)
    unknown = flag_path(unique_key("unknown"))
    known = flag_path(flag["key"])
    bad_body = {"rollout_percentage": "lots"}

    # Wrong key beats everything, even an unknown ref with a bad body.
    with httpx.Client(base_url=flagd.url, headers={"X-Admin-API-Key": "wrong"}) as wrong:
        assert_error(
            wrong.put(unknown, json=bad_body, headers={"If-Match": "abc"}), 401, "unauthorized"
        )
        assert_error(wrong.delete(unknown), 401, "unauthorized")
        assert_error(
            wrong.patch(unknown + "/toggle", headers={"If-Match": "abc"}), 401, "unauthorized"
        )
        assert_error(wrong.put(known, content=b"{", headers={"If-Match": "9"}), 401, "unauthorized")
    # Unknown ref beats a bad body and a bad If-Match.
    assert_error(admin.put(unknown, json=bad_body, headers={"If-Match": "abc"}), 404, "not_found")
    assert_error(admin.put(unknown, content=b"{", headers={"If-Match": "abc"}), 404, "not_found")
    assert_error(admin.patch(unknown + "/toggle", headers={"If-Match": "abc"}), 404, "not_found")
    assert_error(admin.delete(unknown, headers={"If-Match": "abc"}), 404, "not_found")
    # Known ref: a bad body (validation or JSON) beats a stale If-Match.
    assert_validation_error(
        admin.put(known, json=bad_body, headers={"If-Match": "9"}), "rollout_percentage"
    )
    assert_error(admin.put(known, content=b"{", headers={"If-Match": "9"}), 400, "invalid_request")
    assert_validation_error(
        admin.put(known, json={"key": "other"}, headers={"If-Match": "9"}), "key"
    )
    # A malformed If-Match is a 400 too, before any version comparison.
    assert_error(admin.put(known, json={"enabled": True}, headers={"If-Match": "abc"}), 400)
    # Only then the version.
    assert_error(
        admin.put(known, json={"enabled": True}, headers={"If-Match": "9"}), 412, "version_conflict"
    )
    assert admin.get(known).json() == flag


# --- toggle and delete --------------------------------------------------------------------


def test_toggle_flips_enabled_and_bumps_version(admin: httpx.Client) -> None:
    flag = create(admin, rollout_percentage=40, targeted_users=["x"])
    on = admin.patch(flag_path(flag["id"]) + "/toggle")
    assert on.status_code == 200
    assert is_json(on)
    assert on.json()["enabled"] is True
    assert on.json()["version"] == 2
    assert on.json()["rollout_percentage"] == 40
    assert on.json()["targeted_users"] == ["x"]
    off = admin.patch(flag_path(flag["key"]) + "/toggle")
    assert off.json()["enabled"] is False
    assert off.json()["version"] == 3
    assert parse_time(off.json()["updated_at"]) >= parse_time(on.json()["updated_at"])
    assert admin.get(flag_path(flag["key"])).json() == off.json()


def test_toggle_ignores_a_body(admin: httpx.Client) -> None:
    flag = create(admin)
    response = admin.patch(flag_path(flag["key"]) + "/toggle", json={"enabled": False})
    assert response.status_code == 200
    assert response.json()["enabled"] is True


def test_toggle_unknown_is_404(admin: httpx.Client) -> None:
    assert_error(admin.patch(flag_path(unique_key("ghost")) + "/toggle"), 404, "not_found")


def test_delete_then_404(admin: httpx.Client, client: httpx.Client) -> None:
    flag = create(admin)
    response = admin.delete(flag_path(flag["id"]))
    assert response.status_code == 204
    assert response.content == b""
    for ref in (flag["id"], flag["key"]):
        assert_error(admin.get(flag_path(ref)), 404, "not_found")
        assert_error(admin.delete(flag_path(ref)), 404, "not_found")
        assert_error(admin.patch(flag_path(ref) + "/toggle"), 404, "not_found")
        assert_error(admin.put(flag_path(ref), json={"enabled": True}), 404, "not_found")
    assert flag["key"] not in [item["key"] for item in admin.get(FLAGS).json()]
    assert client_flag(client, flag["key"]) is None


def test_delete_by_key(admin: httpx.Client) -> None:
    flag = create(admin)
    assert admin.delete(flag_path(flag["key"])).status_code == 204
    assert_error(admin.get(flag_path(flag["id"])), 404, "not_found")


def test_recreated_key_starts_at_version_1(admin: httpx.Client) -> None:
    key = unique_key("again")
    first = create(admin, key, description="one")
    admin.patch(flag_path(key) + "/toggle")
    admin.patch(flag_path(key) + "/toggle")
    assert admin.delete(flag_path(key)).status_code == 204
    second = create(admin, key, description="two")
    assert second["version"] == 1
    assert second["id"] != first["id"]
    assert second["enabled"] is False
    assert admin.get(flag_path(key)).json() == second
    assert_error(admin.get(flag_path(first["id"])), 404, "not_found")
    # The re-created flag is the newest one again.
    assert admin.get(FLAGS).json()[0]["key"] == key
