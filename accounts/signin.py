"""Sign-in protection shared by the login page and the token endpoint.

Failed sign-ins are counted per account (the username as typed, case-folded) and per client address
in the cache, over a sliding window of SIGNIN_LOCKOUT_S seconds. An account with
SIGNIN_MAX_FAILURES_PER_ACCOUNT failures, or a client with SIGNIN_MAX_FAILURES_PER_CLIENT, is locked
out until the window has passed: even the right password is refused, with a message that says so and
when to try again, and the lockout is logged (logger "cellposeweb.security"). A successful sign-in
clears the account's count.

The client address is REMOTE_ADDR, or with NUM_PROXIES trusted proxies in front the address the
outermost of them saw (X-Forwarded-For counted from the right), so a client cannot choose it by
sending its own X-Forwarded-For.
"""
import hashlib
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("cellposeweb.security")


class SignInLocked(Exception):
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def client_address(request) -> str:
    """The client's address, trusting exactly NUM_PROXIES proxies (X-Forwarded-For from the right)."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    n = int(settings.NUM_PROXIES)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if n <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-n] if len(hops) >= n else hops[0] if hops else remote


def _key(kind: str, value: str) -> str:
    return f"signin:{kind}:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def _keys(request, username: str) -> list[tuple[str, int]]:
    return [
        (_key("account", (username or "").casefold()), int(settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT)),
        (_key("client", client_address(request)), int(settings.SIGNIN_MAX_FAILURES_PER_CLIENT)),
    ]


def _recent(key: str, now: float) -> list[float]:
    window = settings.SIGNIN_LOCKOUT_S
    return [t for t in cache.get(key, []) if now - t < window]


def check_not_locked(request, username: str) -> None:
    """Raise SignInLocked when this account or this client has too many recent failures."""
    now = time.time()
    for key, limit in _keys(request, username):
        failures = _recent(key, now)
        if limit and len(failures) >= limit:
            retry_after = max(1, math.ceil(failures[-limit] + settings.SIGNIN_LOCKOUT_S - now))
            minutes = math.ceil(retry_after / 60)
            raise SignInLocked(
                f"Too many failed sign-ins; signing in is locked for {minutes} minute{'s' if minutes != 1 else ''}. "
                "Try again later, or ask an administrator to reset your password.",
                retry_after=retry_after,
            )


def record_failure(request, username: str) -> None:
    now = time.time()
    for key, limit in _keys(request, username):
        failures = (_recent(key, now) + [now])[-max(limit, 1) * 2:]
        cache.set(key, failures, timeout=int(settings.SIGNIN_LOCKOUT_S) + 1)
        if limit and len(failures) == limit:
            logger.warning("sign-in locked out after %d failures (%s)", limit, key.split(":")[1],
                           extra={"event": "signin_lockout", "username": (username or "")[:150],
                                  "client": client_address(request)})


def record_success(request, username: str) -> None:
    cache.delete(_keys(request, username)[0][0])
