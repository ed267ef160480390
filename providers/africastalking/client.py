"""Africa's Talking SDK services, built per app (not the SDK's module-level singletons).

``AT_API_BASE_URL`` points both services at a fake server (tests, benchmarks): SMS at
``<base>/version1/messaging``, voice at ``<base>/call``.
"""

from __future__ import annotations

from africastalking.SMS import SMSService
from africastalking.Voice import VoiceService

from core.config import Settings


def at_sms(settings: Settings) -> SMSService:
    service = SMSService(settings.at_username, settings.at_api_key)
    if settings.at_api_base_url:
        service._baseUrl = settings.at_api_base_url.rstrip("/") + "/version1"
        service._contentUrl = service._baseUrl
    return service


def at_voice(settings: Settings) -> VoiceService:
    service = VoiceService(settings.at_username, settings.at_api_key)
    if settings.at_api_base_url:
        service._baseUrl = settings.at_api_base_url.rstrip("/")
    return service
