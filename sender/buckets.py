"""Token buckets: how many messages or calls a provider may be handed right now, shared by every sender
process on every machine, so that two senders together still keep ``SMS_RATE_PER_SECOND`` and
``CALL_RATE_PER_SECOND``.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second. ``take(key, want)`` grants
what it can (``granted`` ≤ ``want``) and says how long until the next token; ``refund`` gives back tokens
that were granted but not used (fewer rows were due than tokens taken).

Two stores: a row per bucket in the database (the default: one short UPDATE, atomic under its row lock),
or Redis when ``REDIS_URL`` is set (a Lua script, atomic in Redis). Time is a parameter (``now``, seconds);
each process passes its own clock, and a bucket never goes back in time when clocks disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Column, Float, String, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from core.db import db


@dataclass(frozen=True)
class Grant:
    granted: int
    wait_seconds: float  # until one more token is available (0 when some were granted)


class TokenBucket(Protocol):
    def take(self, key: str, want: int, rate: float, burst: float, now: float, least: int = 1) -> Grant:
        """Up to ``want`` tokens, or none while fewer than ``least`` are there (a batch worth waiting for)."""
        ...

    def refund(self, key: str, tokens: int, burst: float) -> None: ...


def _grant(available: float, want: int, rate: float, least: int = 1) -> tuple[int, float]:
    whole = math.floor(available + 1e-9)
    least = max(1, min(least, want))
    if whole < least:
        return 0, max(0.0, (least - available) / rate)
    return min(want, whole), 0.0


# --- in the database ------------------------------------------------------------------------------

rate_buckets = Table(
    "rate_buckets",
    db.metadata,
    Column("key", String(40), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("stamp", Float, nullable=False),  # seconds (the sender's clock) of the last refill
)


class DatabaseBucket:
    """One row per bucket. ``take`` runs in its own short transaction, never inside a caller's."""

    def __init__(self, engine: Engine):
        self.engine = engine
        dialect = engine.dialect.name
        self._insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(rate_buckets)

    def take(self, key: str, want: int, rate: float, burst: float, now: float, least: int = 1) -> Grant:
        t = rate_buckets.c
        with self.engine.begin() as conn:
            conn.execute(self._insert.values(key=key, tokens=burst, stamp=now).on_conflict_do_nothing())
            row = conn.execute(select(t.tokens, t.stamp).where(t.key == key).with_for_update()).one()
            elapsed = max(0.0, now - row.stamp)
            available = min(burst, row.tokens + elapsed * rate)
            granted, wait = _grant(available, want, rate, least)
            conn.execute(
                update(rate_buckets).where(t.key == key).values(tokens=available - granted, stamp=max(now, row.stamp))
            )
        return Grant(granted, wait)

    def refund(self, key: str, tokens: int, burst: float) -> None:
        if tokens <= 0:
            return
        t = rate_buckets.c
        with self.engine.begin() as conn:
            least = db.func.min if self.engine.dialect.name == "sqlite" else db.func.least  # scalar min / LEAST
            conn.execute(update(rate_buckets).where(t.key == key).values(tokens=least(burst, t.tokens + tokens)))

    def reset(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(rate_buckets.delete())


# --- in Redis -------------------------------------------------------------------------------------

_TAKE = """
local rate, burst, now, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local least = math.max(1, math.min(tonumber(ARGV[5]), want))
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
local granted = math.floor(tokens + 1e-9)
if granted > want then granted = want end
if granted < least then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(stamp))
redis.call('EXPIRE', KEYS[1], 86400)
return {granted, tostring(tokens)}
"""

_REFUND = """
local burst, add = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens then redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(burst, tokens + add))) end
return 1
"""


class RedisBucket:
    def __init__(self, url: str, prefix: str = "kalanso:bucket:"):
        import redis  # only when REDIS_URL is set

        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix
        self._take = self.client.register_script(_TAKE)
        self._refund = self.client.register_script(_REFUND)

    def take(self, key: str, want: int, rate: float, burst: float, now: float, least: int = 1) -> Grant:
        granted, left = self._take(keys=[self.prefix + key], args=[rate, burst, now, want, least])
        granted = int(granted)
        wait = 0.0 if granted else max(0.0, (max(1, min(least, want)) - float(left)) / rate)
        return Grant(granted, wait)

    def refund(self, key: str, tokens: int, burst: float) -> None:
        if tokens > 0:
            self._refund(keys=[self.prefix + key], args=[burst, tokens])

    def reset(self) -> None:
        for key in self.client.scan_iter(self.prefix + "*"):
            self.client.delete(key)


def make_bucket(redis_url: str, engine: Engine) -> TokenBucket:
    return RedisBucket(redis_url) if redis_url else DatabaseBucket(engine)
