"""HTTP for registries: TLS or plain http, authentication, retries, redirects, errors.

One `httpx.Client` (a thread-safe connection pool) serves every thread. A request is
sent with the Authorization the registry asked for before; a 401 is answered once
through `auth.Authenticator`. GET and HEAD are retried with exponential backoff and
jitter on connection errors, 429 (honouring Retry-After) and 5xx; other methods are
tried once and their callers (uploads) restart the whole operation. Redirects of
GET/HEAD (to blob storage) are followed by hand so the registry's Authorization
header never reaches another host.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from etage.reference import Reference, parse_reference
from etage.registry.auth import Authenticator
from etage.registry.credentials import CredentialProvider, api_host
from etage.registry.errors import RegistryError, parse_error_body

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_RETRY_AFTER = 60.0
_LOCAL = ("localhost", "127.0.0.1", "[::1]", "::1")

Content = bytes | Callable[[], Iterable[bytes]] | None


class TransientError(RegistryError):
    """A failure worth retrying (connection lost, 429, 5xx)."""


@dataclass(frozen=True, slots=True)
class Repository:
    """A repository in a registry: `127.0.0.1:5000` + `team/app`, `docker.io` + `library/node`."""

    registry: str  # as in references: docker.io, ghcr.io, 127.0.0.1:5000
    path: str

    @classmethod
    def parse(cls, value: str | Repository | Reference) -> Repository:
        if isinstance(value, Repository):
            return value
        ref = value if isinstance(value, Reference) else parse_reference(value)
        return cls(ref.domain, ref.path)

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"

    def scopes(self, action: str) -> list[str]:
        """The token scopes to pull from it, or to push to it."""
        return [f"repository:{self.path}:{'pull,push' if action == 'push' else 'pull'}"]


RepoLike = str | Repository | Reference


@dataclass(frozen=True, slots=True)
class Op:
    """What a request is for, to word its errors."""

    registry: str
    repository: str = ""
    action: str = "pull"  # pull | push
    kind: str = ""  # manifest | blob | tags | upload
    ref: str = ""  # tag or digest


def _host_only(registry: str) -> str:
    if registry.startswith("["):
        return registry.split("]", 1)[0] + "]"
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def ssl_context() -> ssl.SSLContext:
    """The system trust store (honours SSL_CERT_FILE and SSL_CERT_DIR)."""
    return ssl.create_default_context()


class Transport:
    def __init__(
        self,
        *,
        credentials: CredentialProvider,
        insecure_registries: Iterable[str] = (),
        retries: int = 4,
        timeout: float = 60.0,
        user_agent: str = "etage",
        backoff: float = 0.5,
        max_backoff: float = 20.0,
    ) -> None:
        self.insecure = {r.strip().lower() for r in insecure_registries}
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.http = httpx.Client(
            verify=ssl_context(),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
            follow_redirects=False,
            headers={"User-Agent": user_agent},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            # A proxy from the environment never applies to registries on this machine.
            mounts={
                f"{scheme}://{host}": httpx.HTTPTransport(verify=ssl_context())
                for scheme in ("http", "https")
                for host in ("localhost", "127.0.0.1", "[::1]")
            },
        )
        self.auth = Authenticator(credentials, self._send_plain)

    def close(self) -> None:
        self.http.close()

    # -- addressing ----------------------------------------------------------------------

    def scheme(self, registry: str) -> str:
        lowered = registry.lower()
        if (
            lowered in self.insecure
            or _host_only(lowered) in _LOCAL
            or _host_only(lowered) in self.insecure
        ):
            return "http"
        return "https"

    def base(self, registry: str) -> str:
        return f"{self.scheme(registry)}://{api_host(registry)}"

    def url(self, registry: str, path: str) -> httpx.URL:
        return httpx.URL(self.base(registry) + path)

    def repo_url(self, repo: Repository, tail: str) -> httpx.URL:
        return self.url(repo.registry, f"/v2/{repo.path}/{tail}")

    # -- sending -------------------------------------------------------------------------

    def _send_plain(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """For the token server: retried like GETs (token requests are idempotent)."""
        target = httpx.URL(url)
        op = Op(target.netloc.decode())
        where = f"{target.scheme}://{target.netloc.decode()}"
        return self._with_retries(op, lambda: self.http.request(method, url, **kwargs), True, where)

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        if response is not None and (after := _retry_after(response)) is not None:
            return min(after, MAX_RETRY_AFTER)
        step: float = min(self.max_backoff, self.backoff * (2**attempt))
        return step / 2 + random.uniform(0, step / 2)

    def _with_retries(
        self, op: Op, send: Callable[[], httpx.Response], idempotent: bool, where: str
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = send()
            except httpx.TransportError as exc:
                if not idempotent or attempt >= self.retries or not _retryable_exc(exc):
                    raise connection_error(op, exc, where) from None
            else:
                if (
                    response.status_code not in RETRY_STATUSES
                    or not idempotent
                    or attempt >= self.retries
                ):
                    return response
                response.close()
                time.sleep(self.delay(attempt, response))
                attempt += 1
                continue
            time.sleep(self.delay(attempt))
            attempt += 1

    def request(
        self,
        op: Op,
        method: str,
        url: httpx.URL | str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: Content = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with auth, retries (GET/HEAD) and redirects; the response may be any status.

        With stream=True the caller closes the response.
        """
        idempotent = method in ("GET", "HEAD")
        target = httpx.URL(url)
        if params:
            target = target.copy_merge_params(params)
        origin = self.url(op.registry, "/")
        retried_auth = False
        redirects = 0
        while True:
            same_origin = (target.scheme, target.netloc) == (origin.scheme, origin.netloc)
            hdrs = dict(headers or {})
            if same_origin and (auth := self.auth.header(op.registry, scopes)) is not None:
                hdrs["Authorization"] = auth
            body = content() if callable(content) else content

            def send(
                body: Any = body, hdrs: dict[str, str] = hdrs, target: httpx.URL = target
            ) -> httpx.Response:
                req = self.http.build_request(method, target, headers=hdrs, content=body)
                return self.http.send(req, stream=stream)

            where = f"{target.scheme}://{target.netloc.decode()}"
            response = self._with_retries(op, send, idempotent, where)
            if response.status_code == 401 and same_origin and not retried_auth:
                challenges = response.headers.get_list("www-authenticate")
                _drain(response)
                retried_auth = True
                if self.auth.challenged(op.registry, challenges, scopes) is not None:
                    continue
                return response
            if idempotent and response.status_code in REDIRECTS and "location" in response.headers:
                redirects += 1
                if redirects > 10:
                    raise RegistryError(f"too many redirects from {op.registry} for {target}")
                location = response.headers["location"]
                _drain(response)
                target = target.join(location)
                continue
            return response

    # -- errors --------------------------------------------------------------------------

    def error(self, op: Op, response: httpx.Response) -> RegistryError:
        """The RegistryError for a response that is not what the request wanted."""
        try:
            body = response.read()
        except httpx.HTTPError:
            body = b""
        codes, text = parse_error_body(body)
        status = response.status_code
        where = f"{op.registry}/{op.repository}" if op.repository else op.registry
        said = f": {text}" if text else ""
        kw: dict[str, Any] = {
            "status": status,
            "codes": codes,
            "registry": op.registry,
            "repository": op.repository,
        }
        if status == 401:
            source = self.auth.source(op.registry)
            anonymous = self.auth.credentials_for(op.registry) is None
            challenge = response.headers.get("www-authenticate", "")
            hint = (
                f"log in with `docker login {op.registry}` or add credentials to"
                " ~/.docker/config.json (or the config.json in $DOCKER_CONFIG)"
            )
            if anonymous:
                message = (
                    f"authentication required by {op.registry} to {op.action} {where};"
                    f" tried {source}"
                )
            elif "insufficient_scope" in challenge:
                message = (
                    f"access denied: {op.registry} does not grant {op.action}"
                    f" on {op.repository} with {source}"
                )
                hint = f"check that this account may {op.action} {op.repository}"
            else:
                message = (
                    f"authentication failed at {op.registry} ({op.action} {where})"
                    f" with credentials from {source}"
                )
            return RegistryError(message + said, hint=hint, **kw)
        if status == 403:
            return RegistryError(
                f"{op.registry} denied {op.action} access to repository"
                f" {op.repository or '?'}{said}",
                hint="check the repository name and that your account may " + op.action + " it",
                **kw,
            )
        if status == 404:
            if "NAME_UNKNOWN" in codes:
                message = f"repository {op.repository} not found on {op.registry}"
            elif op.kind == "manifest" and ":" not in op.ref:
                message = f"tag {op.ref} not found in repository {where}"
            elif op.kind == "manifest":
                message = f"manifest {op.ref} not found in repository {where}"
            elif op.kind == "blob":
                message = f"blob {op.ref} not found in repository {where}"
            elif op.kind == "upload":
                message = f"upload session for {where} not found (it expired or was cancelled)"
            else:
                message = f"{where} not found"
            return RegistryError(message + said, **kw)
        cls = TransientError if status in RETRY_STATUSES else RegistryError
        reason = response.reason_phrase or ""
        return cls(
            f"{op.registry} answered {status} {reason} to {response.request.method} "
            f"{response.request.url.path}{said}".replace("  ", " "),
            **kw,
        )


def _drain(response: httpx.Response) -> None:
    with contextlib.suppress(httpx.HTTPError):
        response.read()
    response.close()


def _retryable_exc(exc: httpx.TransportError) -> bool:
    if isinstance(exc, httpx.ConnectError) and _is_tls(exc):
        return False  # a certificate will not fix itself
    return not isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError))


def _is_tls(exc: BaseException) -> bool:
    text = str(exc).lower()
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, ssl.SSLError) or any(
        s in text for s in ("ssl", "certificate", "wrong version number", "tls")
    )


def connection_error(op: Op, exc: httpx.TransportError, where: str) -> RegistryError:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    kw: dict[str, Any] = {"registry": op.registry, "repository": op.repository}
    insecure = f"--insecure-registry {op.registry}"
    if "certificate verify failed" in lowered:
        return RegistryError(
            f"the TLS certificate of {where} is not trusted: {text}",
            hint="add the CA that signed it to the system trust store (update-ca-certificates)"
            f" or to SSL_CERT_FILE; for a registry you trust anyway, use {insecure}",
            **kw,
        )
    if _is_tls(exc):
        return RegistryError(
            f"TLS handshake with {where} failed: {text}",
            hint=f"if {op.registry} serves plain http, mark it insecure ({insecure})",
            **kw,
        )
    if "name or service not known" in lowered or "name resolution" in lowered:
        return TransientError(
            f"cannot resolve the registry host of {where}: {text}",
            hint="check the registry name in the image reference",
            **kw,
        )
    if isinstance(exc, httpx.ConnectError):
        return TransientError(
            f"cannot connect to {where}: {text}",
            hint="check that the registry is running and its address and port are right",
            **kw,
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"{where} did not answer in time ({type(exc).__name__})", **kw)
    return TransientError(f"connection to {where} failed: {text}", **kw)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
