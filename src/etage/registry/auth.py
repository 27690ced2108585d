"""Registry authentication: WWW-Authenticate challenges and bearer tokens.

A registry answers 401 with `WWW-Authenticate: Basic realm=...` or
`Bearer realm=...,service=...,scope=...` (several challenges may share one header).
For Bearer, a token is asked from the realm (GET with `service` and one `scope` per
resource, with Basic credentials when known, anonymous otherwise; or a POST with the
refresh token when the config holds an `identitytoken`), and cached per
(registry, scopes) until it expires. Docker's token spec is the reference.
Credentials come from credentials.py.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx

from etage.registry.credentials import CredentialProvider, Credentials
from etage.registry.errors import RegistryError, parse_error_body

_TOKEN_MARGIN = 10.0  # seconds before expiry at which a cached token is renewed


# ---- challenges -------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME_RE = re.compile(rf"[\s,]*({_TOKEN})(?=\s|,|$)")
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|({_TOKEN}))")
_TOKEN68_RE = re.compile(r"\s+([A-Za-z0-9\-._~+/]+=*)\s*(?=,|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower case: "basic", "bearer"
    params: Mapping[str, str]  # keys lower case

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_www_authenticate(value: str) -> list[Challenge]:
    """All challenges of a WWW-Authenticate value (RFC 9110 grammar, quoted strings)."""
    out: list[Challenge] = []
    i = 0
    while i < len(value):
        m = _SCHEME_RE.match(value, i)
        if m is None:
            break
        scheme, i = m.group(1).lower(), m.end()
        params: dict[str, str] = {}
        t68 = _TOKEN68_RE.match(value, i)
        if t68 is not None and _PARAM_RE.match(value, i) is None:
            params["token68"], i = t68.group(1), t68.end()
        while (p := _PARAM_RE.match(value, i)) is not None:
            quoted, bare = p.group(2), p.group(3)
            params[p.group(1).lower()] = (
                re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            )
            i = p.end()
            rest = re.match(r"\s*,", value[i:])
            if rest is None:
                break
            if _PARAM_RE.match(value, i + rest.end()) is None:
                break  # the comma starts the next challenge
            i += rest.end()
        out.append(Challenge(scheme, params))
    return out


def merge_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """One scope per resource, actions united: `repository:a:pull` + `repository:a:push`
    -> `repository:a:pull,push`, in first-seen order."""
    merged: dict[str, list[str]] = {}
    for scope in scopes:
        resource, sep, actions = scope.rpartition(":")
        if not sep or not resource:
            merged.setdefault(scope, [])
            continue
        have = merged.setdefault(resource, [])
        have.extend(a for a in actions.split(",") if a and a not in have)
    return tuple(f"{r}:{','.join(a)}" if a else r for r, a in merged.items())


# ---- tokens -----------------------------------------------------------------------

Send = Callable[..., httpx.Response]


@dataclass(slots=True)
class _Token:
    value: str
    expires: float  # time.monotonic()


class Authenticator:
    """Answers challenges and remembers them; thread-safe.

    `send(method, url, **httpx_kwargs)` performs a request (with the client's retries).
    """

    def __init__(self, credentials: CredentialProvider, send: Send) -> None:
        self.credentials = credentials
        self.send = send
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str, str, tuple[str, ...]], _Token] = {}
        self._key_locks: dict[tuple[str, str, str, tuple[str, ...]], threading.Lock] = {}
        self._creds: dict[str, Credentials | None] = {}

    def credentials_for(self, registry: str) -> Credentials | None:
        with self._lock:
            if registry in self._creds:
                return self._creds[registry]
        found = self.credentials.get(registry)
        with self._lock:
            self._creds[registry] = found
        return found

    def source(self, registry: str) -> str:
        creds = self.credentials_for(registry)
        if creds is not None and creds.source:
            return creds.source
        return self.credentials.describe(registry)

    def header(self, registry: str, scopes: Iterable[str]) -> str | None:
        """The Authorization value to send up front, once the registry's challenge is known."""
        with self._lock:
            challenge = self._challenges.get(registry)
        if challenge is None:
            return None
        return self._answer(registry, challenge, merge_scopes(scopes), refresh=False)

    def challenged(
        self, registry: str, www_authenticate: list[str], scopes: Iterable[str]
    ) -> str | None:
        """A new Authorization value after a 401, or None when there is nothing to try."""
        challenges = [c for v in www_authenticate for c in parse_www_authenticate(v)]
        usable = [c for c in challenges if c.scheme == "bearer" and c.realm] or [
            c for c in challenges if c.scheme == "basic"
        ]
        if not usable:
            return None
        challenge = usable[0]
        with self._lock:
            self._challenges[registry] = challenge
        wanted = merge_scopes([*scopes, *challenge.params.get("scope", "").split()])
        return self._answer(registry, challenge, wanted, refresh=True)

    def _answer(
        self, registry: str, challenge: Challenge, scopes: tuple[str, ...], *, refresh: bool
    ) -> str | None:
        creds = self.credentials_for(registry)
        if challenge.scheme == "basic":
            return creds.basic_header() if creds is not None else None
        key = (
            registry,
            challenge.realm,
            challenge.params.get("service", ""),
            tuple(sorted(scopes)),
        )
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one token request per key, however many threads want it
            with self._lock:
                cached = self._tokens.get(key)
            if cached is not None and cached.expires > time.monotonic() and not refresh:
                return f"Bearer {cached.value}"
            token = self._fetch_token(registry, challenge, scopes, creds)
            with self._lock:
                self._tokens[key] = token
            return f"Bearer {token.value}"

    def _fetch_token(
        self,
        registry: str,
        challenge: Challenge,
        scopes: tuple[str, ...],
        creds: Credentials | None,
    ) -> _Token:
        realm = challenge.realm
        service = challenge.params.get("service", "")
        if creds is not None and creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": "etage",
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            response = self.send("POST", realm, data=form)
        else:
            params: list[tuple[str, str]] = []
            if service:
                params.append(("service", service))
            params.extend(("scope", s) for s in scopes)
            headers = {}
            if creds is not None and (basic := creds.basic_header()) is not None:
                headers["Authorization"] = basic
                params.append(("account", creds.username))
            response = self.send("GET", realm, params=params, headers=headers)
        if response.status_code in (401, 403):
            _, text = parse_error_body(response.content)
            who = (
                f"credentials from {creds.source}" if creds else self.credentials.describe(registry)
            )
            raise RegistryError(
                f"authentication failed for {registry}: the token server {realm} refused {who}"
                + (f": {text}" if text else ""),
                hint=f"check the credentials (`docker login {registry}`,"
                " or ~/.docker/config.json / $DOCKER_CONFIG)",
                status=401,
                registry=registry,
            )
        if response.status_code != 200:
            _, text = parse_error_body(response.content)
            raise RegistryError(
                f"the token server {realm} for {registry} answered {response.status_code}"
                + (f": {text}" if text else ""),
                status=response.status_code,
                registry=registry,
            )
        try:
            doc = response.json()
        except ValueError:
            doc = None
        value = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(value, str) or not value:
            raise RegistryError(f"the token server {realm} for {registry} answered without a token")
        expires_in = doc.get("expires_in") if isinstance(doc, dict) else None
        lifetime = (
            float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 60.0
        )
        lifetime = max(lifetime, 60.0)  # the token spec's minimum
        return _Token(value, time.monotonic() + lifetime - _TOKEN_MARGIN)

    def forget(self, registry: str) -> None:
        """Drop cached tokens of a registry (after the registry rejected one)."""
        with self._lock:
            for key in [k for k in self._tokens if k[0] == registry]:
                del self._tokens[key]
