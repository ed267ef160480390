"""Learning analytics: what calls and answers say about the lessons (see ``analytics.queries``).

``paths`` summarises one call's recorded path (pure), ``facts`` writes one row per finished call (on
``core.signals.call_finished``, and ``flask analytics rebuild``), ``queries`` reads the figures, scoped by user.
"""
