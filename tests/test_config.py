"""Config loading: YAML positions, interpolation, validation messages, schema and discovery."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import msgspec
import pytest

from tui.engine.config import Config
from tui.engine.loader import (
    ConfigError,
    ConfigIssue,
    dec_hook,
    json_schema,
    load_config,
    load_config_text,
)
from tui.engine.paths import (
    bundled_config_dir,
    ensure_state_dir,
    find_config,
    no_config_message,
    searched_locations,
    state_dir,
)
from tui.engine.units import Percent

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "configs"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))
EXAMPLE = ROOT / "config" / "watchdeck.example.yaml"


def errors(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "t.yaml", environ or {})
    return str(caught.value)


# --- the broken corpus: each file names the error line it must produce ----------------------
def test_corpus_is_large_enough():
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_config_reports_position_path_and_message(path: Path):
    header = path.read_text(encoding="utf-8").splitlines()[0]
    expected = header.removeprefix("# expect: ")
    assert expected != header, f"{path.name} lacks an '# expect:' header"
    assert re.match(r"^\d+:\d+: \S+: ", expected), "the expectation starts with line:col: path:"

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"{path}:{expected}") for line in lines), "\n".join(lines)
    assert all(re.match(rf"^{re.escape(str(path))}:\d+:\d+: \S+: \S", line) for line in lines)


# --- issues and errors ----------------------------------------------------------------------
def test_issue_and_error_text():
    issue = ConfigIssue("w.yaml", 3, 5, "checks[0].url", "bad")
    top = ConfigIssue("w.yaml", 1, 1, "", "not a mapping")
    assert str(issue) == "w.yaml:3:5: checks[0].url: bad"
    assert str(top) == "w.yaml:1:1: <root>: not a mapping"
    error = ConfigError([issue, top])
    assert str(error) == "w.yaml:3:5: checks[0].url: bad\nw.yaml:1:1: <root>: not a mapping"
    assert error.issues == [issue, top]


def test_several_errors_are_reported_in_one_run():
    with pytest.raises(ConfigError) as caught:
        load_config(FIXTURES / "several_errors.yaml", environ={})
    found = [(i.line, i.col, i.path) for i in caught.value.issues]
    assert found == [
        (2, 13, "settings.interval"),
        (3, 3, "settings.histroy"),
        (8, 5, "checks[0].timout"),
        (12, 11, "checks[1].port"),
        (14, 5, "databases[0]"),
        (17, 11, "queues[0].kind"),
        (22, 12, "alerts.rules[0].for"),
    ]
    messages = [issue.message for issue in caught.value.issues]
    assert "did you mean `history`?" in messages[1]
    assert "did you mean `timeout`?" in messages[2]
    assert messages[5] == (
        "expected one of redis_list, celery, rq, bullmq, sidekiq, redis_stream, rabbitmq, sql,"
        " prometheus, got 'sqs'"
    )


def test_messages_are_single_lines_and_never_show_secrets():
    text = errors(
        "checks:\n  - name: api\n    url: ftp://admin:hunter2@127.0.0.1/\n"
        "databases:\n  - name: main\n    dsn: {password: hunter2}\n"
    )
    assert "hunter2" not in text
    assert "ftp://admin:***@127.0.0.1/" in text
    assert len(text.splitlines()) == 2


# --- YAML -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file_is_all_defaults(text: str):
    assert load_config_text(text, "empty.yaml", {}) == Config()


def test_defaults_and_null_sections():
    config = load_config_text("checks:\nqueues:\nalerts:\n  rules:\n", "t.yaml", {})
    assert config == Config()
    assert config.settings.interval == 5.0
    assert config.settings.history == 720


def test_anchors_and_merge_keys(tmp_path: Path):
    config = load_config(FIXTURES / "anchors.yaml", environ={})
    api, web = config.checks
    assert (api.interval, api.timeout) == (2.0, 1.0)
    assert (web.interval, web.timeout) == (2.0, 5.0)


def test_keys_are_text_as_written():
    text = (
        "checks: [{name: a, url: 'http://127.0.0.1/'}]\n"
        "alerts:\n  rules:\n    - {name: r, when: check.a.up < 1, labels: {404: x, on: y}}\n"
    )
    rule = load_config_text(text, "t.yaml", {}).alerts.rules[0]
    assert rule.labels == {"404": "x", "on": "y"}


def test_extension_keys_hold_anchors_and_are_ignored():
    text = "x-timing: &t {interval: 2s}\nsettings: {<<: *t}\n"
    assert load_config_text(text, "t.yaml", {}).settings.interval == 2.0
    assert "^x-" in json_schema()["patternProperties"]


def test_unknown_key_inside_merged_defaults_points_at_the_anchor():
    text = "x-d: &d\n  intervl: 1s\nsettings:\n  <<: *d\n"
    assert "t.yaml:2:3: settings.intervl: unknown key `intervl`; did you mean `interval`?" in (
        errors(text)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("settings: [1", "t.yaml:2:1: <root>: invalid YAML:"),
        (
            "a: 1\n---\nb: 2\n",
            "t.yaml:2:1: <root>: invalid YAML: expected a single document in the stream, but",
        ),
        (
            "checks: [{name: a, url: ${URL}}]",
            "inside {...} or [...], quote values that contain ${...}",
        ),
        ("settings:\n  interval: 1s\n x: 2\n", "t.yaml:3:"),
        ("interval\x00: 1", "t.yaml:1:9: <root>: invalid YAML:"),
        ("a: &a [*a]\n", "recursive"),
        ("? [a, b]\n: 1\n", "t.yaml:1:3: <root>: a key must be a plain value"),
        ("settings: !custom {interval: 1s}\n", "t.yaml:1:11: settings: unsupported YAML tag"),
        ('"just a string"', "t.yaml:1:1: <root>: expected a mapping of sections"),
        ("42", "t.yaml:1:1: <root>: expected a mapping of sections"),
    ],
)
def test_malformed_yaml_is_an_issue_not_a_traceback(text: str, expected: str):
    assert expected in errors(text)


def test_alias_bomb_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert "document too large" in errors("\n".join(lines))


def test_unreadable_and_binary_files(tmp_path: Path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(missing))}:1:1: <root>: cannot read"):
        load_config(missing)
    with pytest.raises(ConfigError, match=r":1:1: <root>: cannot read"):
        load_config(tmp_path)
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"settings:\n  interval: \xff\xfe\x00\x81\n")
    with pytest.raises(ConfigError, match=r"garbage.yaml:2:13: <root>: not a UTF-8 text file"):
        load_config(garbage)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ConfigError, match=r"nul.yaml:1:1: <root>: invalid YAML"):
        load_config(nul)


def test_byte_order_mark_is_accepted(tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfsettings: {interval: 2s}\n")
    assert load_config(path).settings.interval == 2.0


# --- environment interpolation --------------------------------------------------------------
DB = "databases:\n  - name: main\n    dsn: {}\n"


def dsn(value: str, environ: dict[str, str]) -> str:
    return load_config_text(DB.format(value), "t.yaml", environ).databases[0].dsn


def test_env_variable_is_substituted():
    environ = {"DATABASE_URL": "postgresql://u@db/app"}
    assert dsn("${DATABASE_URL}", environ) == "postgresql://u@db/app"
    assert dsn('"host=${H} dbname=${D}"', {"H": "db", "D": "app"}) == "host=db dbname=app"


def test_env_default_applies_when_unset_or_empty():
    assert dsn("${DATABASE_URL:-postgresql://localhost/x}", {}) == "postgresql://localhost/x"
    assert dsn("${DATABASE_URL:-postgresql://localhost/x}", {"DATABASE_URL": ""}) == (
        "postgresql://localhost/x"
    )
    assert dsn("${DATABASE_URL:-postgresql://localhost/x}", {"DATABASE_URL": "pg://a"}) == "pg://a"
    assert dsn("x${EMPTY:-}y", {}) == "xy"


def test_missing_env_variable_is_reported_at_the_scalar():
    text = errors(DB.format("${DATABASE_URL}"))
    assert text == "t.yaml:3:10: databases[0].dsn: environment variable DATABASE_URL is not set"


def test_dollar_dollar_is_a_literal_dollar():
    assert dsn("'pa$$word ${X} $$${X}'", {"X": "1"}) == "pa$word 1 $1"
    assert dsn("cost$5", {}) == "cost$5"


def test_substituted_values_are_never_executed_or_reinterpolated():
    environ = {"X": "$(touch /tmp/pwned) ${Y}", "Y": "no"}
    assert dsn("${X}", environ) == "$(touch /tmp/pwned) ${Y}"


def test_plain_scalars_take_the_type_of_their_value_quoted_ones_stay_strings():
    text = "checks:\n  - name: db\n    kind: tcp\n    host: h\n    port: X\n"
    plain = text.replace("X", "${PORT:-5432}")
    assert load_config_text(plain, "t.yaml", {}).checks[0].port == 5432
    assert load_config_text(plain, "t.yaml", {"PORT": "6432"}).checks[0].port == 6432
    quoted = text.replace("X", '"${PORT:-5432}"')  # as the hint for {...} and [...] says
    assert load_config_text(quoted, "t.yaml", {}).checks[0].port == 5432
    assert load_config_text(quoted, "t.yaml", {"PORT": "6432"}).checks[0].port == 6432
    assert "checks[0].port: expected an integer, got '$5'" in errors(text.replace("X", '"$$5"'))


def test_a_quoted_variable_fills_numbers_and_booleans_but_stays_text_in_a_text_field():
    text = (
        'checks:\n  - {name: "${NAME}", kind: tls, host: "${HOST}", port: "${PORT}",'
        ' verify_tls: "${VERIFY}", interval: "${EVERY}"}\n'
    )
    environ = {"NAME": "2024", "HOST": "true", "PORT": "8443", "VERIFY": "false", "EVERY": "30"}
    check = load_config_text(text, "t.yaml", environ).checks[0]
    assert (check.name, check.host, check.port) == ("2024", "true", 8443)
    assert (check.verify_tls, check.interval) == (False, 30.0)


def test_a_text_field_keeps_a_substituted_value_as_text_and_never_echoes_it():
    """A token of digits, ``true`` or ``null`` is the text of the variable, not a number, a
    boolean or nothing; an error about it must not print the secret either."""
    text = (
        "checks:\n  - name: ${NAME}\n    url: http://h/\n"
        "    headers:\n      X-Token: ${TOKEN}\n      X-Flag: ${FLAG}\n"
    )
    for token in ("123456", "0x1F", "1e3", "null", "true", "0123"):
        environ = {"NAME": "2024", "TOKEN": token, "FLAG": "yes"}
        check = load_config_text(text, "t.yaml", environ).checks[0]
        assert (check.name, check.headers) == ("2024", {"X-Token": token, "X-Flag": "yes"})
    verify = "checks:\n  - name: a\n    url: https://h/\n    verify_tls: ${VERIFY}\n"
    assert load_config_text(verify, "t.yaml", {"VERIFY": "false"}).checks[0].verify_tls is False
    said = errors(verify, {"VERIFY": "maybe"})  # not text: refused, naming the variable
    assert "expected true or false, got the value of ${VERIFY}" in said and "maybe" not in said


def test_an_error_names_the_variable_never_its_value():
    url = "api.internal/healthz?token=SECRET1"
    for written in ("${HEALTH_URL}", '"${HEALTH_URL}"'):
        text = errors(f"checks:\n  - name: api\n    url: {written}\n", {"HEALTH_URL": url})
        assert text == (
            "t.yaml:3:10: checks[0].url: expected an http:// or https:// URL,"
            " got the value of ${HEALTH_URL}"
        )
    tcp = "checks:\n  - name: db\n    kind: tcp\n    host: h\n    port: PORT\n"
    for port in ("${PORT}", '"${PORT}"'):
        for value, said in (("99999", "between 1 and 65535"), ("s3cr3t", "expected an integer")):
            text = errors(tcp.replace("PORT", port), {"PORT": value})
            assert said in text and value not in text and "the value of ${PORT}" in text
    partial = 'databases:\n  - {name: m, dsn: x, long_query: "${A}-${B}"}\n'
    text = errors(partial, {"A": "hunter2x", "B": "tok3n"})
    assert "hunter2x" not in text and "tok3n" not in text
    assert "the value of ${A}-${B}" in text


def test_keys_and_values_from_the_file_cannot_drive_the_terminal():
    text = errors('checks:\n  - {name: a, url: "http://h/", "\\e[31mred\\e]2;x\\a": 1}\n')
    assert "\x1b" not in text and "\x07" not in text
    assert "unknown key `␛[31mred␛]2;x␇`" in text and '["␛[31mred␛]2;x␇"]' in text
    assert "\x1b" not in errors('checks:\n  - {name: a, url: "\\e[2Jx"}\n')


# --- units ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "seconds"),
    [("250ms", 0.25), ("5s", 5.0), ("5m", 300.0), ("1h", 3600.0), ("30d", 2592000.0), ("7", 7.0)],
)
def test_durations(written: str, seconds: float):
    config = load_config_text(f"settings: {{timeout: {written}}}", "t.yaml", {})
    assert config.settings.timeout == seconds
    assert isinstance(config.settings.timeout, float)


def test_duration_errors():
    assert "expected a duration like 250ms, 5s, 5m, 1h or 30d, got '5x'" in errors(
        "settings: {interval: 5x}"
    )
    assert "settings.timeout: a duration cannot be negative" in errors("settings: {timeout: -1}")
    assert "settings.interval: must be greater than 0" in errors("settings: {interval: 0s}")


def test_percentages_are_fractions():
    class Threshold(msgspec.Struct):
        limit: Percent

    converted = msgspec.convert({"limit": "5%"}, Threshold, dec_hook=dec_hook)
    assert converted.limit == pytest.approx(0.05)
    assert isinstance(converted.limit, Percent)
    assert msgspec.convert({"limit": 0.25}, Threshold, dec_hook=dec_hook).limit == 0.25
    with pytest.raises(msgspec.ValidationError, match="expected a percentage like 5%"):
        msgspec.convert({"limit": "lots"}, Threshold, dec_hook=dec_hook)


# --- shipped configs ------------------------------------------------------------------------
def test_example_config_loads():
    config = load_config(EXAMPLE, environ={})
    assert {check.kind for check in config.checks} == {"http", "tcp"}
    assert config.databases[0].dsn.startswith("postgresql://")
    assert config.alerts.rules
    assert config.runbooks.paths == ["config/runbooks"]


def test_example_config_honours_environment():
    config = load_config(EXAMPLE, environ={"DATABASE_URL": "postgresql://db.internal/app"})
    assert config.databases[0].dsn == "postgresql://db.internal/app"


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "config").rglob("*.yaml")) or [EXAMPLE],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_shipped_yaml_loads(path: Path):
    if not path.exists():
        pytest.skip(f"{path} does not exist yet")
    if path.name != "demo.yaml":
        load_config(path, environ={})
        return
    # `watchdeck demo` sets the variables naming its servers; all else must already be valid.
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        others = [i for i in exc.issues if not i.message.startswith("environment variable")]
        assert not others, "\n".join(map(str, others))


# --- JSON Schema ----------------------------------------------------------------------------
def test_json_schema_shape():
    schema = json_schema()
    json.dumps(schema)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"] == "watchdeck config"
    assert schema["type"] == "object"
    assert {"settings", "checks", "databases", "queues", "alerts", "runbooks"} <= set(
        schema["properties"]
    )
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Rule"]["properties"]["for"]


def test_json_schema_durations_accept_numbers_and_strings():
    interval = json_schema()["$defs"]["Settings"]["properties"]["interval"]
    kinds = {option["type"] for option in interval["anyOf"]}
    assert kinds == {"number", "string"}
    pattern = next(o["pattern"] for o in interval["anyOf"] if o["type"] == "string")
    assert all(re.match(pattern, text) for text in ["250ms", "5s", "5m", "1h", "30d", "10"])
    assert not re.match(pattern, "5x")


# --- discovery and state --------------------------------------------------------------------
@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return tmp_path


def write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("settings: {}\n", encoding="utf-8")
    return path


def test_find_config_order(homes: Path):
    cwd = homes / "work"
    cwd.mkdir()
    assert find_config(None, environ={}, cwd=cwd) is None

    xdg = write(homes / "xdg-config" / "watchdeck" / "config.yaml")
    assert find_config(None, environ={}, cwd=cwd) == xdg

    local = write(cwd / "watchdeck.yaml")
    assert find_config(None, environ={}, cwd=cwd) == local

    from_env = write(homes / "env.yaml")
    environ = {"WATCHDECK_CONFIG": str(from_env)}
    assert find_config(None, environ=environ, cwd=cwd) == from_env

    explicit = write(cwd / "explicit.yaml")
    assert find_config("explicit.yaml", environ=environ, cwd=cwd) == explicit


def test_named_config_that_does_not_exist_is_an_error(homes: Path):
    write(homes / "watchdeck.yaml")
    with pytest.raises(ConfigError, match=r"nope.yaml:1:1: <root>: .*does not exist.*--config"):
        find_config(str(homes / "nope.yaml"), environ={}, cwd=homes)
    environ = {"WATCHDECK_CONFIG": str(homes / "gone.yaml")}
    with pytest.raises(ConfigError, match=r"does not exist \(given by \$WATCHDECK_CONFIG\)"):
        find_config(None, environ=environ, cwd=homes)
    with pytest.raises(ConfigError, match="is not a file"):
        find_config(str(homes), environ={}, cwd=homes)


def test_searched_locations_and_no_config_message(homes: Path):
    places = searched_locations(None, environ={}, cwd=homes)
    assert places[2] == str(homes / "watchdeck.yaml")
    assert places[3] == str(homes / "xdg-config" / "watchdeck" / "config.yaml")
    message = no_config_message(environ={}, cwd=homes)
    assert "watchdeck demo" in message
    assert "watchdeck init" in message
    assert "watchdeck.example.yaml" in message
    assert str(homes / "xdg-config" / "watchdeck" / "config.yaml") in message


def test_an_empty_name_is_an_error_not_a_fall_through(homes: Path):
    write(homes / "watchdeck.yaml")
    with pytest.raises(ConfigError, match="empty: name a config file"):
        find_config("", environ={}, cwd=homes)
    with pytest.raises(ValueError, match="--state-dir is empty"):
        state_dir("", environ={"WATCHDECK_STATE_DIR": str(homes / "state")})


def test_state_dir_resolution(homes: Path):
    assert state_dir(None, environ={}) == homes / "xdg-state" / "watchdeck"
    assert state_dir(None, environ={"WATCHDECK_STATE_DIR": "/srv/wd"}) == Path("/srv/wd")
    assert state_dir("/opt/wd", environ={"WATCHDECK_STATE_DIR": "/srv/wd"}) == Path("/opt/wd")


def test_ensure_state_dir_is_private(homes: Path):
    path = ensure_state_dir(state_dir(None, environ={}))
    assert path.is_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert ensure_state_dir(path) == path


def test_bundled_config_dir_holds_the_example():
    assert (bundled_config_dir() / "watchdeck.example.yaml").is_file()


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("queue.emials.depth > 3", "no queues entry named 'emials'; did you mean `emails`?"),
        ("queue.emails.dept > 3", "unknown metric 'dept'; did you mean `depth`?"),
        ("check.api.up < 1", "no checks entry named 'api'"),
    ],
)
def test_rule_metrics_must_name_something_the_config_produces(when, expected):
    text = f"queues: [{{name: emails}}]\nalerts:\n  rules:\n    - {{name: r, when: {when}}}\n"
    assert f"t.yaml:4:23: alerts.rules[0].when: {when.split()[0]}: {expected}" in errors(text)
