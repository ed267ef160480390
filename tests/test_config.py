"""Settings: safe defaults, and a clear message naming the variable for each bad value."""

from __future__ import annotations

import pytest

from core.config import ConfigError, Settings

GOOD_TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "tok", "TWILIO_NUMBER": "+15005550006"}


def test_defaults_are_safe_for_a_laptop():
    s = Settings.from_env({})
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("instance/kalanso.sqlite3")
    assert (s.voice_provider, s.sms_provider) == ("local", "local")
    assert s.timezone == "Africa/Bamako" and s.tz.key == "Africa/Bamako"
    assert s.default_language == "fr"
    assert s.public_base_url == "http://127.0.0.1:5000"
    assert s.secret_key_generated and len(s.secret_key) == 64


def test_values_are_read_and_tidied():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://kalanso@db.internal/kalanso",
            "PUBLIC_BASE_URL": "https://kalanso.example.org/",
            "VOICE_PROVIDER": "Twilio",
            "SMS_PROVIDER": "africastalking",
            "AT_USERNAME": "sandbox",
            "AT_API_KEY": "k",
            "KALANSO_DEFAULT_LANGUAGE": "BM",
            "SECRET_KEY": "abc",
            **GOOD_TWILIO,
        }
    )
    assert s.database_url == "postgresql+psycopg://kalanso@db.internal/kalanso"
    assert s.public_base_url == "https://kalanso.example.org"
    assert (s.voice_provider, s.sms_provider, s.default_language) == ("twilio", "africastalking", "bm")
    assert s.secret_key == "abc" and not s.secret_key_generated


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"PUBLIC_BASE_URL": "kalanso.example.org"}, "PUBLIC_BASE_URL"),
        ({"PUBLIC_BASE_URL": "ftp://kalanso.example.org"}, "PUBLIC_BASE_URL"),
        ({"VOICE_PROVIDER": "vonage"}, "VOICE_PROVIDER"),
        ({"SMS_PROVIDER": "orange"}, "SMS_PROVIDER"),
        ({"VOICE_PROVIDER": "twilio"}, "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_NUMBER"),
        ({"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN, TWILIO_NUMBER"),
        ({"SMS_PROVIDER": "africastalking"}, "AT_USERNAME, AT_API_KEY"),
        ({"VOICE_PROVIDER": "africastalking", "AT_USERNAME": "u", "AT_API_KEY": "k"}, "AT_VOICE_NUMBER"),
        ({"KALANSO_TIMEZONE": "Mars/Olympus"}, "KALANSO_TIMEZONE"),
        ({"KALANSO_DEFAULT_LANGUAGE": "en"}, "KALANSO_DEFAULT_LANGUAGE"),
        ({"AT_CALLBACK_SECRET": "short"}, "AT_CALLBACK_SECRET"),
        ({"AT_CALLBACK_SECRET": "has/slash/in/it/0123456789"}, "AT_CALLBACK_SECRET"),
        ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES must be a whole number from 0 to 5"),
        ({"TRUSTED_PROXIES": "6"}, "TRUSTED_PROXIES"),
        ({"TRUSTED_PROXIES": "yes"}, "TRUSTED_PROXIES"),
    ],
)
def test_bad_values_name_the_variable(env, names):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert names in str(caught.value)


def test_create_app_refuses_a_bad_setting():
    from app import create_app

    with pytest.raises(ConfigError, match="VOICE_PROVIDER"):
        create_app({"VOICE_PROVIDER": "nope", "DATABASE_URL": "sqlite://"})


def test_a_bad_environment_stops_the_flask_command_with_a_clear_message(tmp_path):
    import os
    import subprocess
    import sys

    from core.config import ROOT

    env = {**os.environ, "KALANSO_TIMEZONE": "Nowhere/Town", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    proc = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "Kalanso configuration error: KALANSO_TIMEZONE: unknown time zone 'Nowhere/Town'" in proc.stderr


@pytest.mark.parametrize("name", ["SMS_RATE_PER_SECOND", "CALL_RATE_PER_SECOND"])
@pytest.mark.parametrize("value", ["0", "-3", "fast"])
def test_bad_rates_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_rates():
    s = Settings.from_env({"SMS_RATE_PER_SECOND": "30", "CALL_RATE_PER_SECOND": "2.5"})
    assert (s.sms_rate_per_second, s.call_rate_per_second) == (30.0, 2.5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SENDER_CONCURRENCY": "0"}, "SENDER_CONCURRENCY must be a whole number from 1 to 256"),
        ({"SENDER_CONCURRENCY": "many"}, "SENDER_CONCURRENCY must be a whole number from 1 to 256"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must be a redis://, rediss:// or unix:// URL"),
        ({"DATABASE_CONNECT_TIMEOUT": "0"}, "DATABASE_CONNECT_TIMEOUT must be a whole number from 1 to 60"),
        ({"DATABASE_STATEMENT_TIMEOUT": "forever"}, "DATABASE_STATEMENT_TIMEOUT must be a whole number from 1"),
    ],
)
def test_sender_and_database_settings_are_validated(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_sender_and_database_settings():
    s = Settings.from_env({"SENDER_CONCURRENCY": "64", "REDIS_URL": "redis://10.0.0.5:6379/2",
                           "DATABASE_CONNECT_TIMEOUT": "2", "DATABASE_STATEMENT_TIMEOUT": "8"})  # fmt: skip
    assert (s.sender_concurrency, s.redis_url, s.database_connect_timeout, s.database_statement_timeout) == (
        64, "redis://10.0.0.5:6379/2", 2, 8,
    )  # fmt: skip
    defaults = Settings.from_env({})
    assert (defaults.sender_concurrency, defaults.redis_url) == (32, "")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("KALANSO_MISSED_CALL_CALLBACK", "maybe", "KALANSO_MISSED_CALL_CALLBACK must be true or false"),
        ("KALANSO_MISSED_CALL_DELAY_SECONDS", "-1", "KALANSO_MISSED_CALL_DELAY_SECONDS must be a whole number"),
        ("KALANSO_MISSED_CALL_DELAY_SECONDS", "soon", "KALANSO_MISSED_CALL_DELAY_SECONDS must be a whole number"),
        ("KALANSO_MISSED_CALL_DAILY_CAP", "0", "KALANSO_MISSED_CALL_DAILY_CAP must be a whole number"),
        ("KALANSO_MISSED_CALL_REJECT", "2", "KALANSO_MISSED_CALL_REJECT must be true or false"),
    ],
)
def test_missed_call_settings_are_validated(name, value, message):
    from core.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=message):
        load_settings({name: value})


def test_missed_call_defaults():
    from core.config import load_settings

    settings = load_settings({})
    assert (settings.missed_call_callback, settings.missed_call_delay_seconds) == (True, 30)
    assert (settings.missed_call_daily_cap, settings.missed_call_reject) == (3, False)


def test_trusted_proxies():
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"TRUSTED_PROXIES": "2"}).trusted_proxies == 2


def test_the_secrets_no_log_may_show():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://kalanso:db-pass-123@db.internal/kalanso",
            "SECRET_KEY": "sk",
            "AT_CALLBACK_SECRET": "s3cretPathSegment0123",
            "AT_API_KEY": "at-key",
            **GOOD_TWILIO,
        }
    )
    assert set(s.secrets) == {"db-pass-123", "sk", "s3cretPathSegment0123", "at-key", "tok"}
    assert Settings.from_env({"SECRET_KEY": "only"}).secrets == ("only",)
