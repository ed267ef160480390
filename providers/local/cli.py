"""``flask simulate ...``: drive the voice and SMS lines from a terminal through the ``local`` provider.

The voice line adds ``simulate call`` and the SMS line ``simulate sms`` (each in its own module,
attached in ``app.py``).
"""

from __future__ import annotations

from flask.cli import AppGroup

simulate_cli = AppGroup("simulate", help="Try the lines from a terminal, as a listener would (local simulator).")
