"""Registry credentials as the docker CLI finds them, and Docker Hub's three names.

`~/.docker/config.json` (`$DOCKER_CONFIG` names the directory): `credHelpers[registry]`,
then `credsStore` (both run `docker-credential-<name> get`: the server URL on stdin,
`{"Username", "Secret"}` on stdout, "credentials not found" for none; Username
`<token>` means Secret is an identity token), then `auths` entries (base64 `auth`,
or `username`/`password`, or `identitytoken`). Docker Hub is `docker.io` in
references, `registry-1.docker.io` for the API and `https://index.docker.io/v1/` as
its key in the config file and for credential helpers.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from etage.registry.errors import RegistryError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API})


def api_host(registry: str) -> str:
    """The host (and port) to send API requests to: docker.io -> registry-1.docker.io."""
    return DOCKER_HUB_API if registry in _HUB_NAMES else registry


def config_key(registry: str) -> str:
    """The key of a registry in the docker config (and for credential helpers)."""
    return DOCKER_HUB_CONFIG_KEY if registry in _HUB_NAMES else registry


def _key_host(key: str) -> str:
    """`https://host:5000/v1/` -> `host:5000`, as docker normalises `auths` keys."""
    host = re.sub(r"^[a-z]+://", "", key.strip().lower()).split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_NAMES else host


# ---- credentials ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)  # an OAuth2 refresh token
    source: str = ""  # where they came from, for error messages

    def basic_header(self) -> str | None:
        if not self.username and not self.password:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


class CredentialProvider(Protocol):
    def get(self, registry: str) -> Credentials | None:
        """Credentials for `registry` (a reference's domain), or None for anonymous."""

    def describe(self, registry: str) -> str:
        """Where credentials for `registry` were looked for, for error messages."""


class StaticCredentials:
    """Credentials given by the program: {registry: Credentials | (username, password)}."""

    def __init__(self, entries: Mapping[str, Credentials | tuple[str, str]]) -> None:
        self.entries: dict[str, Credentials] = {}
        for registry, value in entries.items():
            creds = (
                Credentials(value[0], value[1], source="credentials given to etage")
                if isinstance(value, tuple)
                else value
            )
            self.entries[_key_host(config_key(registry))] = creds

    def get(self, registry: str) -> Credentials | None:
        return self.entries.get(_key_host(config_key(registry)))

    def describe(self, registry: str) -> str:
        return (
            "credentials given to etage" if self.get(registry) else "no credentials given to etage"
        )


class DockerConfigCredentials:
    """Credentials as the docker CLI finds them (read once, on first use)."""

    def __init__(
        self, config_dir: Path | str | None = None, *, helper_timeout: float = 30.0
    ) -> None:
        if config_dir is None:
            env = os.environ.get("DOCKER_CONFIG")
            config_dir = Path(env) if env else Path.home() / ".docker"
        self.path = Path(config_dir) / "config.json"
        self.helper_timeout = helper_timeout
        self._config: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def config(self) -> dict[str, Any]:
        with self._lock:
            if self._config is None:
                self._config = self._load()
            return self._config

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"cannot read the docker config {self.path}: {exc}",
                hint="fix the file or point $DOCKER_CONFIG at another directory",
            ) from None
        return data if isinstance(data, dict) else {}

    def _helper_for(self, registry: str) -> tuple[str, str] | None:
        """(helper name, which setting named it)."""
        helpers = self.config.get("credHelpers")
        if isinstance(helpers, dict):
            for key, name in helpers.items():
                if (
                    isinstance(name, str)
                    and name
                    and _key_host(key) == _key_host(config_key(registry))
                ):
                    return name, "credHelpers"
        store = self.config.get("credsStore")
        if isinstance(store, str) and store:
            return store, "credsStore"
        return None

    def _auths_entry(self, registry: str) -> dict[str, Any] | None:
        auths = self.config.get("auths")
        if not isinstance(auths, dict):
            return None
        wanted = config_key(registry)
        if isinstance(auths.get(wanted), dict):
            return auths[wanted]  # type: ignore[no-any-return]
        host = _key_host(wanted)
        for key, entry in auths.items():
            if isinstance(entry, dict) and _key_host(key) == host:
                return entry
        return None

    def get(self, registry: str) -> Credentials | None:
        helper = self._helper_for(registry)
        if helper is not None:
            found = run_credential_helper(
                helper[0], config_key(registry), timeout=self.helper_timeout
            )
            if found is not None:
                return found
        entry = self._auths_entry(registry)
        if entry is None:
            return None
        return _from_auths_entry(entry, f"auths in {self.path}")

    def describe(self, registry: str) -> str:
        helper = self._helper_for(registry)
        if helper is not None:
            return f"credential helper docker-credential-{helper[0]} ({helper[1]} in {self.path})"
        if self._auths_entry(registry) is not None:
            return f"auths[{config_key(registry)!r}] in {self.path}"
        return f"anonymous (no credentials for {config_key(registry)} in {self.path})"


def _from_auths_entry(entry: dict[str, Any], source: str) -> Credentials | None:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise RegistryError(
                f"the `auth` value in {source} is not base64 of user:password",
                hint="run `docker login` again",
            ) from None
        username, _, password = decoded.partition(":")
    identity = str(entry.get("identitytoken") or "")
    if not (username or password or identity):
        return None
    return Credentials(username, password, identity, source)


def run_credential_helper(
    name: str, server_url: str, *, timeout: float = 30.0
) -> Credentials | None:
    """`docker-credential-<name> get`; None when the helper has nothing for server_url."""
    program = f"docker-credential-{name}"
    source = f"credential helper {program}"
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server_url.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise RegistryError(
            f"{program} was not found on PATH (named by the docker config for {server_url})",
            hint=f"install {program}, or remove it from credHelpers/credsStore"
            " in the docker config",
        ) from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{program} did not answer within {timeout:.0f}s") from None
    out = proc.stdout.decode("utf-8", "replace").strip()
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "credentials not found" in (out + err).lower():
            return None
        raise RegistryError(f"{program} get failed (exit status {proc.returncode}): {out or err}")
    try:
        doc = json.loads(out)
        username, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    except (ValueError, AttributeError):
        raise RegistryError(
            f"{program} get printed something that is not its JSON answer"
        ) from None
    if not username and not secret:
        return None
    if username == "<token>":  # docker's convention for an identity (refresh) token
        return Credentials(identity_token=secret, source=source)
    return Credentials(username, secret, source=source)
