"""The Twilio REST client, built from settings. ``TWILIO_API_BASE_URL`` points it at a fake server."""

from __future__ import annotations

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core.config import Settings

TWILIO_API = "https://api.twilio.com"


class _RebasedHttpClient(TwilioHttpClient):
    """Sends the SDK's requests to another base URL (a local fake Twilio in tests and benchmarks)."""

    def __init__(self, base_url: str):
        super().__init__(timeout=10)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, url.replace(TWILIO_API, self.base_url, 1), *args, **kwargs)


def twilio_client(settings: Settings) -> Client:
    http_client = (
        _RebasedHttpClient(settings.twilio_api_base_url)
        if settings.twilio_api_base_url
        else TwilioHttpClient(timeout=10)
    )
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)
