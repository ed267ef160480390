"""The sender process: drains the outbox (``core.outbox``) to the providers, concurrently, at each provider's
rate, with consent checked in the statement that claims each row. See ``sender.loop``."""
