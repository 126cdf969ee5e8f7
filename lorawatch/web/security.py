"""Who may do what on the web side, and the headers every answer carries.

The model (docs in the package ``__init__``):

- occupant screens are public and read-only, or need a per-screen token (``?token=``);
- everything else but ``/healthz`` (its public part), ``/metrics`` and ``/api/docs`` needs a
  principal: a *user* (name and
  password, for people: HTTP Basic on the API, a signed session cookie on the pages) or a
  *token* (``Authorization: Bearer``, for scripts). Each has a role: ``viewer`` reads,
  ``operator`` also acknowledges and resolves alerts.

Only hashes sit in the configuration: scrypt (standard library, memory-hard) for passwords, which
people choose and reuse, and SHA-256 for tokens, which are 256 random bits and so need no
slow hash. Comparisons are constant-time, an unknown user costs as much as a known one, and
repeated failures are slowed down (HTTP 429) before scrypt is even run: see
:class:`FailureLimiter` for what is counted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal
from urllib.parse import urlsplit

from lorawatch.web.settings import HttpConfig

Role = Literal["viewer", "operator"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "operator": 2}

# scrypt at N=2^15, r=8: 32 MiB and ~0.1 s per try on a small machine (OWASP's floor is 2^17
# for N with r=8, p=1 only on bigger hosts; a commune's box is small, logins are rare).
_SCRYPT_LOG_N = 15
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, log_n: int = _SCRYPT_LOG_N) -> str:
    """A PHC-style string ``$scrypt$ln=15,r=8,p=1$<salt>$<hash>`` to paste in the config."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=2**log_n,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"$scrypt$ln={log_n},r={_SCRYPT_R},p={_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False (never an exception) on a bad hash."""
    try:
        _, scheme, params, salt_text, hash_text = encoded.split("$")
        if scheme != "scrypt":
            return False
        values = dict(part.split("=", 1) for part in params.split(","))
        log_n, r, p = int(values["ln"]), int(values["r"]), int(values["p"])
        if not (1 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
            return False
        salt, expected = _unb64(salt_text), _unb64(hash_text)
        digest = hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=2**log_n,
            r=r,
            p=p,
            maxmem=max(_SCRYPT_MAXMEM, 256 * r * 2**log_n),
            dklen=len(expected),
        )
    except (ValueError, KeyError):
        return False
    return hmac.compare_digest(digest, expected)


def new_token() -> tuple[str, str]:
    """A fresh token and the SHA-256 (hex) to store in the config in its place."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a configured user or token, with its role."""

    name: str
    role: Role
    kind: Literal["user", "token"]
    csrf: str = ""
    """For a session: the token every form of that session must send back."""
    via: Literal["bearer", "basic", "session"] = "bearer"
    """How the credentials came: a browser sends Basic and cookies on its own (ambient), so
    state-changing requests that used them are checked for their origin."""

    def may(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


@cache
def _dummy_hash() -> str:
    """Spent on an unknown user name so that it takes as long as a wrong password."""
    return hash_password(secrets.token_hex(8))


class Authenticator:
    """Checks credentials against the configured hashes and signs session cookies."""

    COOKIE = "lorawatch_session"

    def __init__(self, http: HttpConfig) -> None:
        self._users = {u.name: u for u in http.users}
        self._tokens = [(t.name, t.role, t.sha256.get_secret_value()) for t in http.tokens]
        secret = http.secret_session()
        # Without a configured key, a random one: sessions then end with the process.
        self._key = hashlib.sha256(secret.encode()).digest() if secret else secrets.token_bytes(32)
        self._session_s = http.session_hours * 3600
        self.limiter = FailureLimiter()

    @property
    def has_principals(self) -> bool:
        return bool(self._users or self._tokens)

    def bearer(self, token: str) -> Principal | None:
        digest = token_digest(token)
        found = None
        for name, role, expected in self._tokens:
            if hmac.compare_digest(digest, expected):  # check them all: constant time
                found = Principal(name, role, "token")
        return found

    def password(self, name: str, password: str) -> Principal | None:
        user = self._users.get(name)
        if user is None:
            verify_password(password, _dummy_hash())
            return None
        if not verify_password(password, user.password_hash.get_secret_value()):
            return None
        return Principal(user.name, user.role, "user", via="basic")

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def _fingerprint(self, name: str) -> str:
        """Changes when the user's password hash changes, which ends their sessions."""
        user = self._users[name]
        return hashlib.sha256(user.password_hash.get_secret_value().encode()).hexdigest()[:16]

    def issue(self, principal: Principal, now: float | None = None) -> str:
        """A signed cookie value: who, until when, and the password fingerprint."""
        body = {
            "u": principal.name,
            "x": int((now or time.time()) + self._session_s),
            "f": self._fingerprint(principal.name),
            "n": secrets.token_hex(8),
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload.encode())}"

    def session(self, cookie: str, now: float | None = None) -> Principal | None:
        """The user of a session cookie, or None when forged, expired or revoked."""
        payload, _, signature = cookie.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload.encode())):
            return None
        try:
            body = json.loads(_unb64(payload))
            name, expires, fingerprint = str(body["u"]), int(body["x"]), str(body["f"])
        except (ValueError, KeyError, TypeError):
            return None
        user = self._users.get(name)
        if user is None or expires < (now or time.time()):
            return None
        if not hmac.compare_digest(fingerprint, self._fingerprint(name)):
            return None
        csrf = self._sign(b"csrf:" + payload.encode())[:32]
        return Principal(user.name, user.role, "user", csrf=csrf, via="session")


class FailureLimiter:
    """Failed logins counted per (address, identity), per identity and per address.

    A success clears only the counter of the same address *and* identity: the failures of
    others stay counted, so a valid viewer token cannot wash out an operator-password guesser
    on the same address (the limiter used to forget an address on any success). The per
    identity counter, across addresses, slows a guesser spread over many addresses; the per
    address one, a sweep over many user names. Those two are never cleared by a success: they
    only age out of the window. The identity is the user name, or ``"<bearer>"`` for tokens.
    """

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 300.0,
        *,
        per_identity: int = 30,
        per_address: int = 30,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.per_identity = per_identity
        self.per_address = per_address
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, client: str, identity: str) -> list[tuple[tuple[str, str], int]]:
        return [
            ((client, identity), self.limit),
            (("", identity), self.per_identity),
            ((client, ""), self.per_address),
        ]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] < now - self.window_s:
            failures.popleft()
        return failures

    def blocked_for(self, client: str, identity: str) -> float:
        """Seconds until ``identity`` may try again from ``client``; 0 when it may now."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(client, identity):
                failures = self._recent(key, now)
                if len(failures) >= limit:
                    wait = max(wait, 1.0, failures[-limit] + self.window_s - now)
        return wait

    def failed(self, client: str, identity: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, _ in self._keys(client, identity):
                self._recent(key, now).append(now)
            if len(self._failures) > 30_000:  # an address sweep must not grow memory forever
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, client: str, identity: str) -> None:
        with self._lock:
            self._failures.pop((client, identity), None)


BEARER = "<bearer>"
"""The identity under which failed bearer tokens are counted (a token names nobody)."""


def screen_allowed(http: HttpConfig, building: str, token: str | None) -> bool:
    """Whether a request may see ``building``'s occupant screen under ``http.screens``."""
    screens = http.screens
    if screens.access == "off":
        return False
    if screens.access == "public":
        return True
    if not token:
        return False
    digest = token_digest(token)
    allowed = False
    for entry in screens.tokens:
        if entry.building in (building, "*") and hmac.compare_digest(
            digest, entry.sha256.get_secret_value()
        ):
            allowed = True
    return allowed


def cross_site(headers: Mapping[str, str], host: str | None, *, allow_null: bool) -> bool:
    """Whether a request was sent by a page of another site (a CSRF attempt).

    Browsers say it in ``Sec-Fetch-Site`` (trusted: scripts cannot set it), older ones only in
    ``Origin``. Our own forms send ``Origin: null`` (``Referrer-Policy: no-referrer`` asks
    for it), so ``null`` is accepted only where a CSRF token is checked as well
    (``allow_null``). A request without either header comes from a script such as curl, which
    no other site can make a browser send.
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return not allow_null
    return urlsplit(origin).netloc != host


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to after login; anything else (another host) becomes ``default``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c in target for c in "\r\n\\") or len(target) > 512:
        return default
    return target


def content_security_policy(frame_ancestors: Iterable[str] = ()) -> str:
    """No script at all, styles and images from this server only; framing as configured."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors {ancestors}"
    )
