"""Every ORDERFLOW_* setting is parsed and validated once, with a one-line error naming it;
`orderflow config` shows the effective settings with secrets masked."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from app.clock import format_duration, parse_duration
from app.config import (
    _PARSERS,
    ConfigError,
    Settings,
    check_data_dir,
    effective,
    from_environment,
    mask_url,
    unknown_variables,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "value"), [
    ("ORDERFLOW_RETRY_FACTOR", "nan"), ("ORDERFLOW_RETRY_FACTOR", "inf"),
    ("ORDERFLOW_RETRY_FACTOR", "-2"), ("ORDERFLOW_RETRY_FACTOR", "1e400"),
    ("ORDERFLOW_RETRY_MAX_ATTEMPTS", "-1"), ("ORDERFLOW_RETRY_MAX_ATTEMPTS", "2.5"),
    ("ORDERFLOW_RETRY_MAX_ATTEMPTS", "1e3"), ("ORDERFLOW_DISPATCH_THREADS", "0"),
    ("ORDERFLOW_DISPATCH_THREADS", "1000"), ("ORDERFLOW_MAX_BODY_BYTES", "-5"),
    ("ORDERFLOW_MAX_BODY_BYTES", "99999999999"), ("ORDERFLOW_RETRY_BASE", "PT0S"),
    ("ORDERFLOW_RETRY_BASE", "-PT1S"), ("ORDERFLOW_LEASE", "P400D"),
    ("ORDERFLOW_STUCK_AFTER", "PT0S"), ("ORDERFLOW_DATABASE_URL", "not a url"),
    ("ORDERFLOW_DATABASE_URL", "mysql://shop@db/orderflow"),
    ("ORDERFLOW_ADMIN_TOKEN", "x"), ("ORDERFLOW_SECRET_KEY", "short"),
    ("ORDERFLOW_RATE_LIMIT_LOGIN", "lots"), ("ORDERFLOW_RATE_LIMIT_INTAKE", "10 per fortnight"),
    ("ORDERFLOW_RATE_LIMIT_ADMIN", "-1/second"), ("ORDERFLOW_TRUSTED_PROXIES", "-1"),
    ("ORDERFLOW_TRUSTED_PROXIES", "9"), ("ORDERFLOW_COOKIE_SECURE", "maybe"),
    ("ORDERFLOW_WEBHOOK_TIMEOUT", "PT0S"), ("ORDERFLOW_WEBHOOK_TIMEOUT", "PT2M")])
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        from_environment({name: value})
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("raw", "secure"), [("1", True), ("yes", True), ("on", True),
                                             ("0", False), ("false", False), ("off", False)])
def test_cookie_secure_reads_the_usual_spellings(raw: str, secure: bool) -> None:
    assert from_environment({"ORDERFLOW_COOKIE_SECURE": raw}).cookie_secure is secure


def test_rate_limits_read_a_rate_or_off() -> None:
    settings = from_environment({"ORDERFLOW_RATE_LIMIT_LOGIN": "5/second;100/hour",
                                 "ORDERFLOW_RATE_LIMIT_INTAKE": "off"})
    assert (settings.rate_limit_login, settings.rate_limit_intake) == ("5/second;100/hour", "off")


def test_a_secret_is_never_repeated_in_its_error() -> None:
    with pytest.raises(ConfigError) as raised:
        from_environment({"ORDERFLOW_ADMIN_TOKEN": "tiny"})
    assert "tiny" not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        from_environment({"ORDERFLOW_DATABASE_URL": "oracle://shop:hunter2@db/x"})
    assert "hunter2" not in str(raised.value)


def test_a_password_in_the_url_query_is_masked_too() -> None:
    shown = mask_url("postgresql+psycopg://shop@db/x?password=hunter2&sslmode=require")
    assert "hunter2" not in shown and "sslmode=require" in shown


def test_every_setting_has_a_variable_and_every_variable_a_setting() -> None:
    assert set(_PARSERS) == set(Settings.__dataclass_fields__)
    names = [name for name, _ in _PARSERS.values()]
    assert len(names) == len(set(names)) and all(n.startswith("ORDERFLOW_") for n in names)


def test_a_misspelt_variable_is_named_with_the_one_meant() -> None:
    warnings = list(unknown_variables({"ORDERFLOW_STLYE": "hybrid", "ORDERFLOW_STYLE": "hybrid",
                                       "ORDERFLOW_TEST_POSTGRES_URL": "x", "PATH": "/bin"}))
    assert warnings == ["ORDERFLOW_STLYE is not an orderflow setting and is ignored; "
                        "did you mean ORDERFLOW_STYLE?"]


def test_the_effective_settings_mask_secrets_and_say_where_each_came_from() -> None:
    environ = {"ORDERFLOW_ADMIN_TOKEN": "a" * 20, "ORDERFLOW_SECRET_KEY": "s" * 40,
               "ORDERFLOW_DATABASE_URL": "postgresql+psycopg://shop:hunter2@db/orderflow"}
    rows = {name: (value, source) for name, value, source
            in effective(from_environment(environ), environ)}
    assert rows["ORDERFLOW_ADMIN_TOKEN"] == ("(set, 20 characters)", "environment")
    assert rows["ORDERFLOW_SECRET_KEY"] == ("(set, 40 characters)", "environment")
    assert rows["ORDERFLOW_DATABASE_URL"][0] == "postgresql+psycopg://shop:***@db/orderflow"
    assert rows["ORDERFLOW_PRICE_HOLD"] == ("P7D", "default")
    assert set(rows) == {name for name, _ in _PARSERS.values()}


@pytest.mark.parametrize("text", ["P7D", "PT30M", "P1DT2H", "PT0.5S", "P3660D", "PT1H1M1S"])
def test_a_duration_prints_as_it_is_written(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_the_data_folder_is_made_and_must_be_writable(tmp_path: Path) -> None:
    made = check_data_dir(Settings(data_dir=str(tmp_path / "data")), "unused")
    assert made.is_dir()
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ConfigError, match="ORDERFLOW_DATA_DIR"):
        check_data_dir(Settings(data_dir=str(a_file / "data")), "unused")


@pytest.mark.skipif(os.getuid() == 0, reason="root writes through file permissions")
def test_a_read_only_data_folder_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write"):
            check_data_dir(Settings(data_dir=str(tmp_path)), "unused")
    finally:
        tmp_path.chmod(0o700)


def _run(*command: str, data: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith("ORDERFLOW_")}
    environ |= {"ORDERFLOW_DATA_DIR": str(data), **variables}
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=120)


BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [
    (str(BIN / "flask"), "--app", "wsgi", "orderflow", "init"),
    (str(BIN / "orderflow"), "config"),
    (str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app")])
def test_a_bad_setting_stops_every_entry_point_with_one_line_and_writes_nothing(
        tmp_path: Path, command: tuple[str, ...]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    result = _run(*command, data=data, ORDERFLOW_RETRY_FACTOR="nan", PORT="1")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "ORDERFLOW_RETRY_FACTOR" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert list(data.iterdir()) == []


def test_orderflow_config_prints_the_effective_settings(tmp_path: Path) -> None:
    result = _run(str(BIN / "orderflow"), "config", data=tmp_path,
                  ORDERFLOW_ADMIN_TOKEN="a-very-secret-admin-token", ORDERFLOW_LEASE="PT1M")
    assert result.returncode == 0, result.stderr
    assert "a-very-secret-admin-token" not in result.stdout
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "PT1M" in lines["ORDERFLOW_LEASE"] and "(environment)" in lines["ORDERFLOW_LEASE"]
    assert "(set, 25 characters)" in lines["ORDERFLOW_ADMIN_TOKEN"]
    assert "(default)" in lines["ORDERFLOW_STYLE"]


def test_durations_of_the_defaults_are_sane() -> None:
    settings = Settings()
    assert settings.lease >= timedelta(seconds=1) and settings.retry_base > timedelta(0)


def test_the_operations_guide_describes_every_setting() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    section = guide.split("<!-- section: settings -->", 1)[1].split("<!-- section:", 1)[0]
    documented = {line.split("`")[1] for line in section.splitlines()
                  if line.startswith("| `")}
    variables = {name for name, _ in _PARSERS.values()}
    assert variables <= documented, f"undocumented: {sorted(variables - documented)}"
    others = {name for name in documented - variables if not name.startswith("OTEL_")}
    assert others <= {"ORDERFLOW_ACCESS_LOG", "HOST", "PORT", "WORKERS", "THREADS",
                      "CONNECTIONS", "IDLE_TIMEOUT"}, (
        "documented but not read")
