"""Twilio: ``voice`` (TwiML webhooks, outbound calls) and ``sms`` (messages, status callbacks)."""
