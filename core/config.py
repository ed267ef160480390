"""Settings from environment variables (and an optional ``.env``), validated once at start.

Every setting has a safe default for a laptop: SQLite under ``instance/`` and the built-in ``local``
simulator provider. A bad value stops the start with a message naming the variable.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.contacts import read_contacts
from core.window import CallingWindow

ROOT = Path(__file__).resolve().parent.parent  # the project folder
INSTANCE_DIR = ROOT / "instance"
PROVIDERS = ("local", "twilio", "africastalking", "gateway")
SMS_ONLY_PROVIDERS = ("gateway",)  # your own HTTP SMS gateway carries no calls
VOICE_PROVIDERS = tuple(p for p in PROVIDERS if p not in SMS_ONLY_PROVIDERS)
LANGUAGES = ("bm", "fr")
DEFAULT_CAMPAIGN_COUNTRIES = "223"  # Mali
DEFAULT_TARIFFS = (
    "local:sms_segment=0,voice_minute=0;"
    "africastalking:sms_segment=25,voice_minute=75;"
    "twilio:sms_segment=180,voice_minute=300;"
    "gateway:sms_segment=25,voice_minute=0"  # your own SIMs or operator contract: set TARIFFS to your price
)
"""FCFA (XOF) per SMS segment and per voice minute, per provider: rough public prices, ask your provider."""
TARIFF_KEYS = ("sms_segment", "voice_minute")

# What each outbound provider needs before it can carry traffic.
PROVIDER_REQUIRES = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER"),
    "africastalking": ("AT_USERNAME", "AT_API_KEY"),
    "gateway": ("SMS_GATEWAY_PRESET", "SMS_GATEWAY_URL", "SMS_GATEWAY_CALLBACK_SECRET"),
}
PROVIDER_REQUIRES_FOR = {
    ("africastalking", "voice"): ("AT_VOICE_NUMBER",),
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'kalanso.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    public_base_url: str
    voice_provider: str
    sms_provider: str
    timezone: str
    default_language: str
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_number: str = ""
    at_username: str = ""
    at_api_key: str = ""
    at_shortcode: str = ""
    at_voice_number: str = ""
    at_callback_secret: str = ""
    twilio_api_base_url: str = ""  # empty = the real Twilio API; a local fake server in tests
    twilio_compatible: str = "twilio"  # TWILIO_COMPATIBLE: the platform behind the Twilio provider (twilio, somleng)
    at_api_base_url: str = ""  # empty = the real Africa's Talking API
    sms_rate_per_second: float = 10.0
    call_rate_per_second: float = 1.0
    calling_window: str = "08:00-20:00"
    blocked_days: str = ""
    secret_key_generated: bool = False
    sms_transliterate: bool = True  # SMS_TRANSLITERATE: Bambara and French letters rewritten into GSM-7
    sms_max_segments: int = 3  # SMS_MAX_SEGMENTS: longest SMS text allowed, in segments
    sms_opt_out_word_bm: str = "BANNI"  # SMS_OPT_OUT_WORD_BM: the Bambara opt-out keyword
    sms_opt_in_word_bm: str = "SEGINNI"  # SMS_OPT_IN_WORD_BM: the Bambara opt-in keyword
    sms_lesson_budget_segments: int = 14  # SMS_LESSON_BUDGET_SEGMENTS: `flask content check` warns above it
    sms_keywords_file: str = ""  # SMS_KEYWORDS_FILE: empty = sms/keywords.yaml
    missed_call_callback: bool = True  # call back a listener who rang and hung up
    missed_call_delay_seconds: int = 30
    missed_call_daily_cap: int = 3  # callbacks per number per (local) day
    missed_call_reject: bool = False  # decline every inbound call on purpose and call back for free
    contacts: dict[str, str] = field(default_factory=dict)  # contact key -> number (content.contacts)
    database_connect_timeout: int = 3  # DATABASE_CONNECT_TIMEOUT: seconds to connect, or to wait for the pool
    database_statement_timeout: int = 5  # DATABASE_STATEMENT_TIMEOUT: seconds a statement or a lock wait may take
    sender_concurrency: int = 32  # SENDER_CONCURRENCY: provider requests in flight at most, per sender process
    redis_url: str = ""  # REDIS_URL: share the senders' rate limits through Redis instead of the database
    trusted_proxies: int = 0  # TRUSTED_PROXIES: reverse proxies in front whose X-Forwarded-* headers are believed
    campaign_countries: tuple[str, ...] = ("223",)  # CAMPAIGN_COUNTRIES: calling codes a campaign may reach
    # TARIFFS: {provider: {"sms_segment": Decimal, "voice_minute": Decimal}} in FCFA, for cost estimates
    tariffs: dict[str, dict[str, Decimal]] = field(default_factory=lambda: parse_tariffs(DEFAULT_TARIFFS))
    # RECORDINGS_STORAGE: where the studio keeps recordings: "" = files under content/audio (one machine), or
    # s3://bucket/prefix = an S3-compatible object store shared by every machine (studio.storage)
    recordings_storage: str = ""
    s3_endpoint_url: str = ""  # S3_ENDPOINT_URL: empty = AWS S3; MinIO, Scaleway, Backblaze B2, Wasabi... their URL
    s3_region: str = ""  # S3_REGION (or AWS_DEFAULT_REGION)
    s3_access_key_id: str = ""  # S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID); empty = the machine's own credentials
    s3_secret_access_key: str = ""  # S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)
    # SMS_PROVIDER=gateway: your own HTTP SMS gateway (README, "SMS through your own gateway"; _gateway_settings)
    sms_gateway_preset: str = ""  # SMS_GATEWAY_PRESET: kannel | jasmin | android | generic
    sms_gateway_url: str = ""  # SMS_GATEWAY_URL: where a text is handed over (Kannel's sendsms, Jasmin's /send...)
    sms_gateway_username: str = ""  # SMS_GATEWAY_USERNAME
    sms_gateway_password: str = ""  # SMS_GATEWAY_PASSWORD
    sms_gateway_sender: str = ""  # SMS_GATEWAY_SENDER: the short code or number texts come from ("": the gateway's)
    sms_gateway_callback_secret: str = ""  # SMS_GATEWAY_CALLBACK_SECRET: the secret segment of our callback URLs
    sms_gateway_signing_key: str = ""  # SMS_GATEWAY_SIGNING_KEY: the Android app's webhook signing key
    sms_gateway_method: str = "POST"  # SMS_GATEWAY_METHOD (generic): GET | POST | PUT
    sms_gateway_content_type: str = "application/x-www-form-urlencoded"  # SMS_GATEWAY_CONTENT_TYPE (generic)
    sms_gateway_body: str = ""  # SMS_GATEWAY_BODY (generic): the request body template ("": the default)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def window(self):
        """The calling window (``core.window.CallingWindow``) in the configured time zone."""
        return CallingWindow.parse(self.calling_window, self.blocked_days, self.timezone)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The configured secrets, which no log line may show (``core.logs`` replaces them with ``[secret]``)."""
        values = (
            self.at_callback_secret,
            self.twilio_auth_token,
            self.at_api_key,
            self.secret_key,
            self.s3_secret_access_key,
            self.sms_gateway_password,
            self.sms_gateway_callback_secret,
            self.sms_gateway_signing_key,
            make_url(self.database_url).password or "",
        )
        return tuple(v for v in values if v)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        database_url = get("DATABASE_URL", _default_database_url())
        try:
            url = make_url(database_url)
        except ArgumentError as exc:
            raise ConfigError(f"DATABASE_URL is not a database URL ({exc})") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"DATABASE_URL: unsupported database '{url.get_backend_name()}' (use sqlite or postgresql)"
            )
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            # the installed driver is psycopg 3; plain postgresql:// would look for psycopg2
            database_url = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)

        public_base_url = get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        parsed = urlparse(public_base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(
                f"PUBLIC_BASE_URL must be an absolute http(s) URL such as https://kalanso.example.org, "
                f"got {public_base_url!r}"
            )

        providers = {}
        for name in ("VOICE_PROVIDER", "SMS_PROVIDER"):
            value = get(name, "local").lower()
            choices = VOICE_PROVIDERS if name == "VOICE_PROVIDER" else PROVIDERS
            if value not in choices:
                sms_only = " (it carries SMS only)" if value in SMS_ONLY_PROVIDERS else ""
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}{sms_only}")
            providers[name] = value
            channel = "voice" if name == "VOICE_PROVIDER" else "sms"
            needed = PROVIDER_REQUIRES.get(value, ()) + PROVIDER_REQUIRES_FOR.get((value, channel), ())
            missing = [var for var in needed if not get(var)]
            if missing:
                raise ConfigError(f"{name}={value} needs {', '.join(missing)} to be set")

        timezone = get("KALANSO_TIMEZONE", "Africa/Bamako")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"KALANSO_TIMEZONE: unknown time zone {timezone!r}") from exc

        default_language = get("KALANSO_DEFAULT_LANGUAGE", "fr").lower()
        if default_language not in LANGUAGES:
            raise ConfigError(
                f"KALANSO_DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}, got {default_language!r}"
            )

        at_callback_secret = get("AT_CALLBACK_SECRET")
        if at_callback_secret and (len(at_callback_secret) < 16 or not at_callback_secret.isalnum()):
            raise ConfigError("AT_CALLBACK_SECRET must be at least 16 letters or digits (it is part of a URL)")

        calling_window = get("KALANSO_CALLING_WINDOW", "08:00-20:00")
        blocked_days = get("KALANSO_BLOCKED_DAYS")
        try:
            CallingWindow.parse(calling_window, "", timezone)
        except ValueError as exc:
            raise ConfigError(f"KALANSO_CALLING_WINDOW: {exc}") from exc
        try:
            CallingWindow.parse(calling_window, blocked_days, timezone)
        except ValueError as exc:
            raise ConfigError(f"KALANSO_BLOCKED_DAYS: {exc}") from exc

        rates = {}
        for name, default in (("SMS_RATE_PER_SECOND", "10"), ("CALL_RATE_PER_SECOND", "1")):
            try:
                rates[name] = float(get(name, default))
            except ValueError:
                rates[name] = -1.0
            if not 0 < rates[name] <= 10_000:
                raise ConfigError(f"{name} must be a number above 0 (messages or calls per second), got {get(name)!r}")
        sms = _sms_settings(get)
        missed_call = _missed_call_settings(get)
        try:
            contacts = read_contacts(get)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

        secret_key = get("SECRET_KEY")
        generated = not secret_key
        if generated:
            secret_key = secrets.token_hex(32)

        redis_url = get("REDIS_URL")
        if redis_url and urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redis_url!r}")
        timeouts = {
            "sender_concurrency": _int(get, "SENDER_CONCURRENCY", 32, 1, 256),
            "redis_url": redis_url,
            "database_connect_timeout": _int(get, "DATABASE_CONNECT_TIMEOUT", 3, 1, 60),
            "database_statement_timeout": _int(get, "DATABASE_STATEMENT_TIMEOUT", 5, 1, 600),
        }
        trusted_proxies = _int(get, "TRUSTED_PROXIES", 0, 0, 5)
        campaigns = _campaign_settings(get)
        storage = _storage_settings(get)
        gateway = _gateway_settings(get, providers["SMS_PROVIDER"])

        return cls(
            database_url=database_url,
            secret_key=secret_key,
            secret_key_generated=generated,
            public_base_url=public_base_url,
            voice_provider=providers["VOICE_PROVIDER"],
            sms_provider=providers["SMS_PROVIDER"],
            timezone=timezone,
            default_language=default_language,
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_number=get("TWILIO_NUMBER"),
            at_username=get("AT_USERNAME"),
            at_api_key=get("AT_API_KEY"),
            at_shortcode=get("AT_SHORTCODE"),
            at_voice_number=get("AT_VOICE_NUMBER"),
            at_callback_secret=at_callback_secret,
            sms_rate_per_second=rates["SMS_RATE_PER_SECOND"],
            call_rate_per_second=rates["CALL_RATE_PER_SECOND"],
            calling_window=calling_window,
            blocked_days=blocked_days,
            twilio_api_base_url=_base_url(get, "TWILIO_API_BASE_URL"),
            twilio_compatible=_twilio_compatible(get),
            at_api_base_url=_base_url(get, "AT_API_BASE_URL"),
            **sms,
            **missed_call,
            contacts=contacts,
            **timeouts,
            trusted_proxies=trusted_proxies,
            **campaigns,
            **storage,
            **gateway,
        )


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _storage_settings(get) -> dict:
    """Where the studio keeps its recordings (README, "The content studio")."""
    storage = get("RECORDINGS_STORAGE")
    if storage:
        parsed = urlparse(storage)
        if parsed.scheme != "s3" or not _BUCKET.match(parsed.netloc) or ".." in parsed.path:
            raise ConfigError(
                f"RECORDINGS_STORAGE must be empty (files under content/audio) or s3://bucket/optional-prefix, "
                f"got {storage!r}"
            )
    return {
        "recordings_storage": storage.rstrip("/"),
        "s3_endpoint_url": _base_url(get, "S3_ENDPOINT_URL"),
        "s3_region": get("S3_REGION") or get("AWS_DEFAULT_REGION"),
        "s3_access_key_id": get("S3_ACCESS_KEY_ID") or get("AWS_ACCESS_KEY_ID"),
        "s3_secret_access_key": get("S3_SECRET_ACCESS_KEY") or get("AWS_SECRET_ACCESS_KEY"),
    }


def _base_url(get, name: str) -> str:
    value = get(name).rstrip("/")
    if value and urlparse(value).scheme not in ("http", "https"):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value


TWILIO_PLATFORMS = ("twilio", "somleng")


def _twilio_compatible(get) -> str:
    """The platform the Twilio provider talks to (``providers.twilio.dialect``); Somleng has no default address."""
    platform = get("TWILIO_COMPATIBLE", "twilio").lower()
    if platform not in TWILIO_PLATFORMS:
        raise ConfigError(f"TWILIO_COMPATIBLE must be one of {', '.join(TWILIO_PLATFORMS)}, got {platform!r}")
    if platform == "somleng" and not get("TWILIO_API_BASE_URL"):
        raise ConfigError(
            "TWILIO_COMPATIBLE=somleng needs TWILIO_API_BASE_URL: your Somleng's API address, "
            "such as https://api.somleng.org"
        )
    return platform


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _sms_settings(get) -> dict:
    """The SMS line's settings (see README, "SMS line")."""
    flag = get("SMS_TRANSLITERATE", "on").lower()
    if flag not in _TRUE + _FALSE:
        raise ConfigError(f"SMS_TRANSLITERATE must be on or off, got {flag!r}")
    raw = get("SMS_MAX_SEGMENTS", "3")
    if not raw.isdigit() or not 1 <= int(raw) <= 10:
        raise ConfigError(f"SMS_MAX_SEGMENTS must be a whole number from 1 to 10, got {raw!r}")
    words = {}
    for name, default in (("SMS_OPT_OUT_WORD_BM", "BANNI"), ("SMS_OPT_IN_WORD_BM", "SEGINNI")):
        word = get(name, default)
        if not word or len(word.split()) != 1 or not any(c.isalpha() for c in word):
            raise ConfigError(f"{name} must be one word, got {word!r}")
        words[name] = word
    if words["SMS_OPT_OUT_WORD_BM"].casefold() == words["SMS_OPT_IN_WORD_BM"].casefold():
        raise ConfigError("SMS_OPT_OUT_WORD_BM and SMS_OPT_IN_WORD_BM must be different words")
    keywords_file = get("SMS_KEYWORDS_FILE")
    if keywords_file and not Path(keywords_file).is_file():
        raise ConfigError(f"SMS_KEYWORDS_FILE: no such file {keywords_file!r}")
    return {
        "sms_transliterate": flag in _TRUE,
        "sms_max_segments": int(raw),
        "sms_opt_out_word_bm": words["SMS_OPT_OUT_WORD_BM"],
        "sms_opt_in_word_bm": words["SMS_OPT_IN_WORD_BM"],
        "sms_lesson_budget_segments": _int(get, "SMS_LESSON_BUDGET_SEGMENTS", 14, 1, 100),
        "sms_keywords_file": keywords_file,
    }


def _bool(get, name: str, default: bool) -> bool:
    value = get(name).lower()
    if not value:
        return default
    if value not in _TRUE + _FALSE:
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value in _TRUE


def _int(get, name: str, default: int, low: int, high: int) -> int:
    value = get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return number


def _missed_call_settings(get) -> dict:
    return {
        "missed_call_callback": _bool(get, "KALANSO_MISSED_CALL_CALLBACK", True),
        "missed_call_delay_seconds": _int(get, "KALANSO_MISSED_CALL_DELAY_SECONDS", 30, 0, 3600),
        "missed_call_daily_cap": _int(get, "KALANSO_MISSED_CALL_DAILY_CAP", 3, 1, 50),
        "missed_call_reject": _bool(get, "KALANSO_MISSED_CALL_REJECT", False),
    }


def parse_countries(text: str) -> tuple[str, ...]:
    """``"223, 226"`` → ``("223", "226")``: calling codes without ``+``; ValueError for anything else."""
    codes = tuple(dict.fromkeys(part.strip().lstrip("+") for part in text.split(",") if part.strip()))
    bad = [c for c in codes if not (c.isdigit() and 1 <= len(c) <= 3)]
    if not codes or bad:
        raise ValueError(f"expected calling codes separated by commas, like 223 or 223,226; got {text!r}")
    return codes


def parse_tariffs(text: str) -> dict[str, dict[str, Decimal]]:
    """``"africastalking:sms_segment=25,voice_minute=75;twilio:..."`` → ``{provider: {key: Decimal}}``.

    Providers not named keep the default prices; a named provider must give both prices."""
    out: dict[str, dict[str, Decimal]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        provider, sep, prices = part.partition(":")
        provider = provider.strip().lower()
        if not sep or provider not in PROVIDERS:
            raise ValueError(f"expected provider:sms_segment=N,voice_minute=N with a provider among "
                             f"{', '.join(PROVIDERS)}; got {part!r}")  # fmt: skip
        values: dict[str, Decimal] = {}
        for pair in prices.split(","):
            key, _, number = (x.strip() for x in pair.partition("="))
            try:
                value = Decimal(number)
            except InvalidOperation:
                value = Decimal(-1)
            if key not in TARIFF_KEYS or not value.is_finite() or value < 0:
                raise ValueError(
                    f"{provider}: expected sms_segment=N,voice_minute=N (FCFA, N ≥ 0); got {pair.strip()!r}"
                )
            values[key] = value
        missing = [k for k in TARIFF_KEYS if k not in values]
        if missing:
            raise ValueError(f"{provider}: missing {', '.join(missing)}")
        out[provider] = values
    return out


def _campaign_settings(get) -> dict:
    try:
        countries = parse_countries(get("CAMPAIGN_COUNTRIES", DEFAULT_CAMPAIGN_COUNTRIES))
    except ValueError as exc:
        raise ConfigError(f"CAMPAIGN_COUNTRIES: {exc}") from exc
    try:
        tariffs = {**parse_tariffs(DEFAULT_TARIFFS), **parse_tariffs(get("TARIFFS"))}
    except ValueError as exc:
        raise ConfigError(f"TARIFFS: {exc}") from exc
    return {"campaign_countries": countries, "tariffs": tariffs}


def load_settings(overrides: Mapping[str, str] | None = None) -> Settings:
    """Settings from the process environment (after ``.env``), with ``overrides`` on top."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (overrides or {}).items()})
    return Settings.from_env(env)


# --- SMS_PROVIDER=gateway -------------------------------------------------------------------------

GATEWAY_PRESETS = ("kannel", "jasmin", "android", "generic")
GATEWAY_NEEDS = {  # besides SMS_GATEWAY_PRESET, SMS_GATEWAY_URL and SMS_GATEWAY_CALLBACK_SECRET
    "kannel": ("SMS_GATEWAY_USERNAME", "SMS_GATEWAY_PASSWORD"),  # a sendsms-user
    "jasmin": ("SMS_GATEWAY_USERNAME", "SMS_GATEWAY_PASSWORD"),  # a Jasmin user
    "android": ("SMS_GATEWAY_USERNAME", "SMS_GATEWAY_PASSWORD", "SMS_GATEWAY_SIGNING_KEY"),
    "generic": (),
}
GATEWAY_CONTENT_TYPES = {
    "form": "application/x-www-form-urlencoded",
    "json": "application/json",
    "xml": "application/xml",
}
GATEWAY_METHODS = ("GET", "POST", "PUT")
GATEWAY_VARIABLES = ("id", "text", "to", "to_no_plus", "from", "from_no_plus", "dlr_url")
_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _gateway_settings(get, sms_provider: str) -> dict:
    """Your own HTTP SMS gateway (README, "SMS through your own gateway"): checked whenever set, required when
    ``SMS_PROVIDER=gateway``. The generic preset's URL and body are templates of ``GATEWAY_VARIABLES``."""
    preset = get("SMS_GATEWAY_PRESET").lower()
    if preset and preset not in GATEWAY_PRESETS:
        raise ConfigError(f"SMS_GATEWAY_PRESET must be one of {', '.join(GATEWAY_PRESETS)}, got {preset!r}")
    if sms_provider == "gateway":
        missing = [name for name in GATEWAY_NEEDS.get(preset, ()) if not get(name)]
        if missing:
            raise ConfigError(f"SMS_GATEWAY_PRESET={preset} needs {', '.join(missing)} to be set")
    url = get("SMS_GATEWAY_URL")
    parsed = urlparse(url)
    if url and (parsed.scheme not in ("http", "https") or not parsed.netloc):
        raise ConfigError(f"SMS_GATEWAY_URL must be an http(s) URL, got {url!r}")
    secret = get("SMS_GATEWAY_CALLBACK_SECRET")
    if secret and (len(secret) < 16 or not (secret.isascii() and secret.isalnum())):
        raise ConfigError("SMS_GATEWAY_CALLBACK_SECRET must be at least 16 letters or digits (it is part of a URL)")
    method = get("SMS_GATEWAY_METHOD", "POST").upper()
    if method not in GATEWAY_METHODS:
        raise ConfigError(f"SMS_GATEWAY_METHOD must be one of {', '.join(GATEWAY_METHODS)}, got {method!r}")
    kind = get("SMS_GATEWAY_CONTENT_TYPE", "form").lower()
    content_type = GATEWAY_CONTENT_TYPES.get(kind, kind)
    if content_type not in GATEWAY_CONTENT_TYPES.values():
        raise ConfigError(f"SMS_GATEWAY_CONTENT_TYPE must be form, json or xml, got {kind!r}")
    body = get("SMS_GATEWAY_BODY")
    for name, template in (("SMS_GATEWAY_URL", url), ("SMS_GATEWAY_BODY", body)):
        unknown = sorted({v for v in _TEMPLATE_VARIABLE.findall(template) if v not in GATEWAY_VARIABLES})
        if unknown:
            raise ConfigError(
                f"{name}: unknown variable(s) {', '.join(unknown)} (use {{{{{'}}, {{'.join(GATEWAY_VARIABLES)}}}}})"
            )
    if body and content_type == GATEWAY_CONTENT_TYPES["json"]:
        try:
            json.loads(_TEMPLATE_VARIABLE.sub("x", body))  # each variable goes inside quotes: "{{text}}"
        except ValueError as exc:
            raise ConfigError(f"SMS_GATEWAY_BODY is not JSON once filled in ({exc})") from exc
    return {
        "sms_gateway_preset": preset,
        "sms_gateway_url": url,
        "sms_gateway_username": get("SMS_GATEWAY_USERNAME"),
        "sms_gateway_password": get("SMS_GATEWAY_PASSWORD"),
        "sms_gateway_sender": get("SMS_GATEWAY_SENDER"),
        "sms_gateway_callback_secret": secret,
        "sms_gateway_signing_key": get("SMS_GATEWAY_SIGNING_KEY"),
        "sms_gateway_method": method,
        "sms_gateway_content_type": content_type,
        "sms_gateway_body": body,
    }
