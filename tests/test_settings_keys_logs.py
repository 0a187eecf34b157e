"""Settings precedence and secrecy, API key handling, and log redaction (SPEC section 9)."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from yarl import URL

from flagd import logs
from flagd.keys import KEYS_FILE, ApiKeys, resolve_keys
from flagd.logs import REDACTED, LogfmtFormatter, hide_in_logs, redact_url
from flagd.settings import SETTINGS, Setting, Settings, load_settings, mask_url

REPO = Path(__file__).resolve().parent.parent

ADMIN_SECRET = "admin-secret-7f3a9c"
SDK_SECRET = "sdk-secret-2b8e4d"
DB_PASSWORD = "db-pass-91c0e5"
REDIS_PASSWORD = "redis-pass-5d6e7f"

# --- settings: precedence ------------------------------------------------------------------


def test_defaults_with_nothing_set() -> None:
    settings = load_settings([], {})
    assert settings == Settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.cors_origins == ("http://localhost:3000",)
    assert settings.database_url is None and settings.redis_url is None
    assert settings.redis_channel == "flag_updates"
    assert settings.max_body_bytes == 4 * 1024 * 1024
    assert settings.heartbeat_interval == 15.0


def test_option_beats_environment_beats_default() -> None:
    assert load_settings([], {}).port == 8080
    assert load_settings([], {"PORT": "7000"}).port == 7000
    assert load_settings(["--port", "9000"], {"PORT": "7000"}).port == 9000
    assert load_settings(["--port", "9000"], {}).port == 9000


# Two distinct valid raw values per setting: one for the environment, one for the option.
RAW_BY_PARSER = {int: ("1234", "4321"), float: ("2.5", "7.5"), Path: ("/srv/env", "/srv/opt")}
RAW_BY_NAME = {
    "log_level": ("debug", "error"),
    "cors_origins": ("http://e.test", "http://o.test"),
    "event_loop": ("asyncio", "uvloop"),
}


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.env)
def test_every_setting_follows_option_then_environment_then_default(setting: Setting) -> None:
    default = getattr(Settings(), setting.name)
    assert default == setting.default
    assert getattr(load_settings([], {}), setting.name) == default
    option = "--" + setting.name.replace("_", "-")
    if isinstance(default, bool):  # --name / --no-name
        flipped = "false" if default else "true"
        assert getattr(load_settings([], {setting.env: flipped}), setting.name) is not default
        back = option if default else "--no-" + option[2:]
        from_option = load_settings([back], {setting.env: flipped})
        assert getattr(from_option, setting.name) is default
        return
    env_raw, option_raw = RAW_BY_NAME.get(setting.name) or RAW_BY_PARSER.get(
        setting.parse, ("value-from-env", "value-from-option")
    )
    from_env = getattr(load_settings([], {setting.env: env_raw}), setting.name)
    assert from_env == setting.parse(env_raw) != default
    both = load_settings([option, option_raw], {setting.env: env_raw})
    assert getattr(both, setting.name) == setting.parse(option_raw)


@pytest.mark.parametrize(
    ("env", "name", "raw", "expected"),
    [
        ("PORT", "port", "8181", 8181),
        ("DATABASE_URL", "database_url", "postgres://u:p@db/flagd", "postgres://u:p@db/flagd"),
        ("REDIS_URL", "redis_url", "redis://cache:6379/0", "redis://cache:6379/0"),
        ("ADMIN_API_KEY", "admin_api_key", ADMIN_SECRET, ADMIN_SECRET),
        ("SDK_API_KEY", "sdk_api_key", SDK_SECRET, SDK_SECRET),
        (
            "CORS_ORIGINS",
            "cors_origins",
            "http://a.test, http://b.test/",
            ("http://a.test", "http://b.test"),
        ),
        ("CORS_ORIGINS", "cors_origins", "*", ("*",)),
    ],
)
def test_reference_environment_names(env: str, name: str, raw: str, expected: object) -> None:
    assert getattr(load_settings([], {env: raw}), name) == expected


def test_empty_environment_value_means_unset() -> None:
    assert load_settings([], {"PORT": "", "DATABASE_URL": ""}) == Settings()


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("0", False), ("yes", True)])
def test_boolean_environment_values(raw: str, expected: bool) -> None:
    assert load_settings([], {"FLAGD_ACCESS_LOG": raw}).access_log is expected


def test_boolean_option_beats_environment() -> None:
    assert load_settings(["--no-access-log"], {"FLAGD_ACCESS_LOG": "true"}).access_log is False
    assert load_settings(["--access-log"], {"FLAGD_ACCESS_LOG": "false"}).access_log is True


def test_openfeature_provider_names_are_not_read() -> None:
    settings = load_settings([], {"FLAGD_HOST": "10.9.8.7", "FLAGD_PORT": "8013"})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)


@pytest.mark.parametrize(
    ("env", "raw"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("FLAGD_ACCESS_LOG", "maybe"),
        ("FLAGD_LOG_LEVEL", "x"),
        ("FLAGD_HEARTBEAT_INTERVAL", "soon"),
    ],
)
def test_bad_values_exit_with_a_message(
    env: str, raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        load_settings([], {env: raw})
    assert caught.value.code == 2
    assert capsys.readouterr().err.strip()


def test_bad_secret_value_is_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    # A value that fails to parse may be a pasted secret: the error names only the variable.
    with pytest.raises(SystemExit):
        load_settings([], {"PORT": ADMIN_SECRET})
    err = capsys.readouterr().err
    assert "PORT" in err and ADMIN_SECRET not in err


# --- settings: state directory -------------------------------------------------------------


def test_state_directory_honoured_without_a_data_dir() -> None:
    settings = load_settings([], {})
    assert settings.state_dir({"STATE_DIRECTORY": "/var/lib/flagd"}) == Path("/var/lib/flagd")
    # systemd passes several directories colon-separated when several are configured.
    assert settings.state_dir({"STATE_DIRECTORY": "/var/lib/a:/var/lib/b"}) == Path("/var/lib/a")


def test_data_dir_beats_state_directory(tmp_path: Path) -> None:
    environ = {"STATE_DIRECTORY": "/var/lib/flagd", "FLAGD_DATA_DIR": str(tmp_path / "env")}
    assert load_settings([], environ).state_dir(environ) == tmp_path / "env"
    settings = load_settings(["--data-dir", str(tmp_path / "opt")], environ)
    assert settings.state_dir(environ) == tmp_path / "opt"


def test_platform_data_dir_is_the_last_resort() -> None:
    from platformdirs import user_data_dir

    path = Settings().state_dir({})
    assert path == Path(user_data_dir("flagd", appauthor=False))


# --- settings: secrets never shown ---------------------------------------------------------


def secret_settings() -> Settings:
    return load_settings(
        [],
        {
            "ADMIN_API_KEY": ADMIN_SECRET,
            "SDK_API_KEY": SDK_SECRET,
            "DATABASE_URL": f"postgres://flagd:{DB_PASSWORD}@db:5432/flagd",
            "REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache:6379/0",
        },
    )


SECRETS = (ADMIN_SECRET, SDK_SECRET, DB_PASSWORD, REDIS_PASSWORD)


def test_repr_shows_no_secret() -> None:
    settings = secret_settings()
    for text in (repr(settings), str(settings)):
        for secret in SECRETS:
            assert secret not in text


def test_describe_masks_keys_and_passwords() -> None:
    shown = secret_settings().describe()
    text = json.dumps(shown, default=str)
    for secret in SECRETS:
        assert secret not in text
    assert shown["admin_api_key"] == shown["sdk_api_key"] == "set"
    assert shown["database_url"] == "postgres://flagd:***@db:5432/flagd"
    assert shown["redis_url"] == "redis://:***@cache:6379/0"
    assert Settings().describe()["admin_api_key"] == "generated"


@pytest.mark.parametrize(
    "url",
    [
        f"postgres://flagd:{DB_PASSWORD}@db/flagd",
        f"postgresql://flagd:{DB_PASSWORD}@db:5432/flagd?sslmode=require",
        f"postgres://:{DB_PASSWORD}@db/flagd",
        f"postgres://flagd:p@ss:{DB_PASSWORD}@db/flagd",  # '@' and ':' inside the password
        f"postgres://flagd@db/flagd?password={DB_PASSWORD}",  # libpq's query form
        f"postgres://flagd@db/flagd?sslmode=require&PASSWORD={DB_PASSWORD}&x=1",
    ],
)
def test_mask_url_hides_the_password(url: str) -> None:
    masked = mask_url(url)
    assert DB_PASSWORD not in masked
    assert "***" in masked
    assert Settings(database_url=url).describe()["database_url"] == masked


def test_mask_url_leaves_password_free_urls_alone() -> None:
    for url in ["postgres://flagd@db/flagd", "redis://cache:6379/0", "postgres://db/x?sslmode=1"]:
        assert mask_url(url) == url


def run_flagd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flagd", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_documents_every_environment_variable() -> None:
    result = run_flagd("--help", env={"ADMIN_API_KEY": ADMIN_SECRET, "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    for setting in SETTINGS:
        assert setting.env in result.stdout, setting.env
    for name in ("PORT", "DATABASE_URL", "REDIS_URL", "ADMIN_API_KEY", "SDK_API_KEY"):
        assert name in result.stdout
    assert ADMIN_SECRET not in result.stdout + result.stderr
    assert "FLAGD_HOST" not in result.stdout and "FLAGD_PORT" not in result.stdout


# --- keys ----------------------------------------------------------------------------------


def test_generated_keys_file_is_private(tmp_path: Path) -> None:
    state_dir = tmp_path / "fresh" / "state"
    keys = resolve_keys(None, None, state_dir)
    path = state_dir / KEYS_FILE
    assert keys.generated_file == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in state_dir.iterdir()] == [KEYS_FILE]  # no temporary file left
    stored = json.loads(path.read_text())
    assert stored["admin_api_key"].encode() == keys.admin
    assert stored["sdk_api_key"].encode() == keys.sdk


def test_generated_keys_are_strong_and_distinct(tmp_path: Path) -> None:
    keys = resolve_keys(None, None, tmp_path)
    assert keys.admin != keys.sdk
    assert len(keys.admin) >= 32 and len(keys.sdk) >= 32
    other = resolve_keys(None, None, tmp_path / "other")
    assert {keys.admin, keys.sdk}.isdisjoint({other.admin, other.sdk})


def test_generated_keys_are_stable_across_calls(tmp_path: Path) -> None:
    first = resolve_keys(None, None, tmp_path)
    mtime = (tmp_path / KEYS_FILE).stat().st_mtime_ns
    second = resolve_keys(None, None, tmp_path)
    assert (first.admin, first.sdk) == (second.admin, second.sdk)
    assert (tmp_path / KEYS_FILE).stat().st_mtime_ns == mtime  # not rewritten


def test_configured_keys_win(tmp_path: Path) -> None:
    generated = resolve_keys(None, None, tmp_path)
    both = resolve_keys(ADMIN_SECRET, SDK_SECRET, tmp_path / "unused")
    assert (both.admin, both.sdk) == (ADMIN_SECRET.encode(), SDK_SECRET.encode())
    assert both.generated_file is None
    assert not (tmp_path / "unused").exists()
    admin_only = resolve_keys(ADMIN_SECRET, None, tmp_path)
    assert (admin_only.admin, admin_only.sdk) == (ADMIN_SECRET.encode(), generated.sdk)
    sdk_only = resolve_keys(None, SDK_SECRET, tmp_path)
    assert (sdk_only.admin, sdk_only.sdk) == (generated.admin, SDK_SECRET.encode())


def test_configured_admin_and_sdk_keys_must_differ(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must differ"):
        resolve_keys("same-key-123", "same-key-123", tmp_path)


def test_unreadable_keys_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEYS_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        resolve_keys(None, None, tmp_path)


def test_keys_are_compared_exactly() -> None:
    keys = ApiKeys(ADMIN_SECRET.encode(), SDK_SECRET.encode())
    assert keys.admin_ok(ADMIN_SECRET)
    assert keys.sdk_ok(SDK_SECRET)
    assert not keys.admin_ok(SDK_SECRET)
    assert not keys.sdk_ok(ADMIN_SECRET)
    for wrong in [
        None,
        "",
        ADMIN_SECRET[:-1],
        ADMIN_SECRET + "x",
        ADMIN_SECRET.upper(),
        " " + ADMIN_SECRET,
        ADMIN_SECRET + "\n",
        "é",
        "\ud800",
    ]:
        assert not keys.admin_ok(wrong), repr(wrong)


def test_undecodable_header_bytes_do_not_match_a_question_mark() -> None:
    # aiohttp decodes header bytes that are not UTF-8 as surrogates (surrogateescape).
    keys = ApiKeys(b"key-with-?", b"sdk-key-123")
    assert not keys.admin_ok("key-with-\udcff")
    assert keys.admin_ok("key-with-?")


def test_non_ascii_keys_compare_by_utf8() -> None:
    keys = ApiKeys("clé-admin-ü".encode(), b"sdk-key-123")
    assert keys.admin_ok("clé-admin-ü")
    assert not keys.admin_ok("cle-admin-u")


def test_keys_repr_shows_no_key() -> None:
    text = repr(ApiKeys(ADMIN_SECRET.encode(), SDK_SECRET.encode()))
    assert ADMIN_SECRET not in text and SDK_SECRET not in text


# --- logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "/api/client/stream?key=SECRET",
        "/api/client/flags?x=1&key=SECRET&y=2",
        "/api/client/flags?key=SECRET&key=SECRET2",
        "/api/client/flags?%6Bey=SECRET",  # percent-encoded parameter name
        "/api/client/flags?key=SE%20CRET",
    ],
)
def test_redact_url_hides_key_values(raw: str) -> None:
    shown = redact_url(URL(raw))
    assert "SECRET" not in shown and "SE CRET" not in shown
    assert f"key={REDACTED}" in shown
    assert shown.startswith("/api/client/")


@pytest.mark.parametrize(
    "raw",
    [
        "/api/client/flags?x=1?key=SECRET",  # a second "?" puts the key in x's value
        "/api/client/flags?key%3DSECRET",  # an encoded "=" puts it in a name
        "/api/client/flags?SECRET",
        "/api/client/flags?KEY=SECRET",
        "/api/client/flags?x=1;key=SECRET",
        "/api/client/flags?amp;key=SECRET",
        "/api/admin/flags?limit=SECRET&after=SECRET",
        "/api/client/stream?lastEventId=SECRET",
    ],
)
def test_redact_url_hides_a_key_in_any_spelling(raw: str) -> None:
    assert "SECRET" not in redact_url(URL(raw))


def test_redact_url_shows_only_what_cannot_be_a_key() -> None:
    assert (
        redact_url(URL("/api/client/flags?x=1&key=s"))
        == f"/api/client/flags?{REDACTED}&key={REDACTED}"
    )
    assert redact_url(URL("/health")) == "/health"
    assert redact_url(URL("/a?keys=1&monkey=2")) == f"/a?{REDACTED}&{REDACTED}"
    assert redact_url(URL("/api/admin/flags?limit=20&after=abc")) == (
        f"/api/admin/flags?limit=20&after={REDACTED}"
    )
    assert (
        redact_url(URL("/api/client/stream?lastEventId=42")) == "/api/client/stream?lastEventId=42"
    )


def test_configured_keys_are_scrubbed_from_every_line() -> None:
    """The safety net under the redaction: any line, any logger, the key in any form."""
    secret = 'k3y with "quote" and é'
    hide_in_logs(secret.encode(), None, b"")
    try:
        for text in (secret, quote(secret, safe=""), quote(secret), json.dumps(secret)[1:-1]):
            line = format_record(f"got {text}", path=f"/x?{text}")
            assert "k3y" not in line and REDACTED in line, line
    finally:
        logs._hidden.clear()


def format_record(msg: str, **fields: object) -> str:
    record = logging.LogRecord("flagd.test", logging.INFO, __file__, 1, msg, None, None)
    record.fields = fields
    return LogfmtFormatter().format(record)


HOSTILE = [
    "two\nlines",
    "carriage\rreturn",
    "nul\x00byte",
    "escape\x1b[31m",
    "next\x85line",
    "line\u2028separator",
    "paragraph\u2029separator",
    "lone \ud800 surrogate",
    'fake" level=error msg="injected',
]


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
def test_log_line_is_one_line(text: str) -> None:
    line = format_record(text, path=text)
    assert len(line.splitlines()) == 1
    assert line.isprintable()
    line.encode("utf-8")  # writable to a strict UTF-8 stream
    # Each value is a JSON string that decodes back to what was logged.
    quoted = line.split(" msg=", 1)[1].split(" path=", 1)[0]
    assert json.loads(quoted) == text


def test_exception_traceback_stays_on_one_line() -> None:
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        record = logging.LogRecord(
            "flagd", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    line = LogfmtFormatter().format(record)
    assert len(line.splitlines()) == 1
    assert "exc=" in line and "RuntimeError" in line


def test_plain_values_are_not_quoted() -> None:
    line = format_record("started", port=8080, url="http://127.0.0.1:8080")
    assert " msg=started " in line
    assert line.endswith("port=8080 url=http://127.0.0.1:8080")
    assert "level=info" in line and "logger=flagd.test" in line
