"""Domain signals, so that one area reacts to another without importing it (blinker, via Flask).

Receivers run inside the sender's transaction: they may add rows and flush, never commit, and
never call a provider (side effects happen after commit).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

listener_opted_out = _signals.signal("listener-opted-out")
"""sender=Listener; kwargs: now, channel. Stop every pending campaign delivery to this listener."""

lesson_started = _signals.signal("lesson-started")
"""sender=Listener; kwargs: course_id, lesson_id, channel, now. Voice: a call's lesson began (its introduction
played, the listener on the line); SMS: the listener's first answer in the lesson (a campaign's SMS opening
texts are sent without them doing anything)."""

lesson_completed = _signals.signal("lesson-completed")
"""sender=Listener; kwargs: course_id, lesson_id, channel, now, first_time, score, total."""

call_finished = _signals.signal("call-finished")
"""sender=CallSession (final status reached); kwargs: now."""

message_status_changed = _signals.signal("message-status-changed")
"""sender=Message; kwargs: now, previous (MessageStatus)."""
