"""The base layer every area stands on: configuration, database, clock, signals, the shared vocabulary
(channels, directions, statuses), phone numbers, logging, the calling window, the provider-neutral
events and voice turns, and the outbox. It imports nothing else of ours (checked by import-linter)."""
