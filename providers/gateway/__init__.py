"""Your own HTTP SMS gateway (``SMS_PROVIDER=gateway``): Kannel, Jasmin, SMS Gateway for Android, or any gateway
that speaks the "external channel" shape (``SMS_GATEWAY_PRESET=generic``). SMS only: it carries no calls.

``sms.py`` is the adapter (the sender hands texts over, the routes read callbacks); one module per preset says
its exact wire formats, in and out, and maps its words to ours with tables.
"""
