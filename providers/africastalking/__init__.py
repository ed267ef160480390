"""Africa's Talking: ``voice`` (voice XML callbacks, outbound calls) and ``sms`` (bulk SMS, reports)."""
