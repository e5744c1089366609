"""Visitor sessions: a keyed hash (HMAC, server secret) of site + User-Agent + IP, never stored,
maps to a random session id with an 8-hour sliding expiry; a hit is a first visit when its
session has not seen its path before. State lives in Redis (production) or in memory.

Assignments are idempotent per batch: the results are stored with the state change, so a batch
retried after a crash gets the same answers instead of "already seen"."""
import hashlib
import hmac
import threading
import time
import uuid

SESSION_TTL = 8 * 3600


def session_key(secret, site_id, user_agent, ip, supplied=""):
    """The session key of a hit: of the caller-supplied session string when there is one
    (GoatCounter's count API), else of User-Agent and IP; always scoped to the site."""
    message = (f"s\0{site_id}\0{supplied}" if supplied else f"v\0{site_id}\0{user_agent}\0{ip}")
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class MemorySessions:
    """The embedded default's session map, in this process."""

    def __init__(self, ttl=SESSION_TTL):
        self.ttl = ttl
        self._sessions = {}      # key -> [session id, last seen]
        self._paths = {}         # session id -> set of path keys
        self._results = {}       # batch id -> assignments
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def assign(self, batch_id, requests, now=None):
        """``requests``: (key or None, path key) per hit. Returns (session id hex or None,
        first visit) per hit; a None key means "no session": always a first visit."""
        now = time.time() if now is None else now
        with self._lock:
            if batch_id in self._results:
                return self._results[batch_id]
            self._sweep(now)
            results = []
            for key, path in requests:
                if key is None:
                    results.append((None, True))
                    continue
                entry = self._sessions.get(key)
                if entry is None or entry[1] < now - self.ttl:
                    entry = self._sessions[key] = [uuid.uuid4().hex, now]
                    self._paths[entry[0]] = set()
                entry[1] = now
                seen = self._paths.setdefault(entry[0], set())
                results.append((entry[0], path not in seen))
                seen.add(path)
            self._results[batch_id] = results
            return results

    def forget(self, batch_id):
        with self._lock:
            self._results.pop(batch_id, None)

    def _sweep(self, now):
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        expired = [key for key, (_, seen) in self._sessions.items() if seen < now - self.ttl]
        for key in expired:
            session_id, _ = self._sessions.pop(key)
            self._paths.pop(session_id, None)


# ARGV: ttl, key prefix, then (session key, path key, candidate id) per hit ("" key = none).
_ASSIGN = """
local done = redis.call('GET', KEYS[1])
if done then return done end
local ttl = tonumber(ARGV[1])
local out = {}
for i = 3, #ARGV, 3 do
  if ARGV[i] == '' then
    out[#out + 1] = '-:1'
  else
    local skey = ARGV[2] .. 's:' .. ARGV[i]
    local sid = redis.call('GET', skey)
    if not sid then sid = ARGV[i + 2] end
    redis.call('SET', skey, sid, 'EX', ttl)
    local pkey = ARGV[2] .. 'p:' .. sid
    local first = redis.call('SADD', pkey, ARGV[i + 1])
    redis.call('EXPIRE', pkey, ttl)
    out[#out + 1] = sid .. ':' .. first
  end
end
local result = table.concat(out, ',')
redis.call('SET', KEYS[1], result, 'EX', 86400)
return result
"""


class RedisSessions:
    """Session state shared by every worker: ``<prefix>:s:<key>`` → session id and
    ``<prefix>:p:<id>`` → path keys seen, both expiring 8 hours after the last hit."""

    def __init__(self, redis, prefix="ibex", ttl=SESSION_TTL):
        self.redis = redis
        self.prefix = f"{prefix}:session:"
        self.ttl = ttl
        self._assign = redis.register_script(_ASSIGN)

    def assign(self, batch_id, requests, now=None):
        args = [self.ttl, self.prefix]
        for key, path in requests:
            args += [key or "", path, uuid.uuid4().hex]
        raw = self._assign(keys=[self._result_key(batch_id)], args=args)
        raw = raw.decode("ascii") if isinstance(raw, bytes) else raw
        results = []
        for item in raw.split(",") if raw else []:
            session_id, _, first = item.partition(":")
            results.append((None if session_id == "-" else session_id, first == "1"))
        return results

    def forget(self, batch_id):
        self.redis.delete(self._result_key(batch_id))

    def _result_key(self, batch_id):
        return f"{self.prefix}batch:{batch_id}"
