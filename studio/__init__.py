"""The content studio: recordings made by people (by phone or in the browser), their approval, and each text's
review state per language. It stands between the channels (``ivr`` records by phone and counts the fallbacks) and
the accounts (editors and reviewers are dashboard users)."""
