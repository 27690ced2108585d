"""Image references (`node:18`, `ghcr.io/org/app@sha256:...`) with Docker's grammar.

Parsing and normalisation follow distribution/reference (ParseNormalizedNamed):
`node` is `docker.io/library/node:latest`, a first component with a dot, a colon or
`localhost` (or an upper-case letter) is a registry, tags and digests are validated,
and the error messages are Docker's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from etage.errors import UsageError

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?\Z"
)
_HEX64 = re.compile(r"[a-f0-9]{64}\Z")
NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"


class ReferenceError(UsageError):
    pass


@dataclass(frozen=True, slots=True)
class Reference:
    domain: str  # registry host[:port], "docker.io" for Docker Hub
    path: str  # repository path, "library/node" for official images
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The repository, fully qualified: docker.io/library/node."""
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host the registry API answers on (Docker Hub's differs from its name)."""
        return "registry-1.docker.io" if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def familiar_name(self) -> str:
        """The short form Docker shows: node, myorg/app, ghcr.io/org/app."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(OFFICIAL_PREFIX)
        return self.name

    def familiar(self) -> str:
        out = self.familiar_name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when known, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> Reference:
        if not re.fullmatch(_TAG, tag):
            raise ReferenceError(
                f"invalid tag {tag!r}", hint="tags use A-Z a-z 0-9 _ . - (max 128)"
            )
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse_reference(text: str, *, default_tag: str | None = "latest") -> Reference:
    """Parse and normalise like `docker pull` (default registry, library/, tag latest)."""
    if text == "":
        raise ReferenceError(
            "invalid reference format: repository name must have at least one component"
        )
    if _HEX64.match(text):
        raise ReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings",
            hint="to use an image by digest, write name@sha256:<hex>",
        )
    m = _REFERENCE.match(text)
    if m is None:
        lowered = text.lower()
        if text != lowered and _REFERENCE.match(lowered):
            raise ReferenceError(
                f"invalid reference format: repository name ({text}) must be lowercase",
                hint=f"use {lowered!r}",
            )
        raise ReferenceError(
            f"invalid reference format: {text!r}",
            hint="references look like name[:tag][@sha256:<digest>], e.g. node:18 or "
            "registry.example.com:5000/team/app:1.2",
        )
    name = m.group("name")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(
            f"invalid reference format: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters"
        )
    domain, path = _split_domain(name)
    if domain != DEFAULT_DOMAIN and path.lower() != path:
        raise ReferenceError(
            f"invalid reference format: repository name ({text}) must be lowercase"
        )
    tag = m.group("tag")
    digest = m.group("digest")
    if digest is not None:
        algorithm, _, hexpart = digest.partition(":")
        if algorithm == "sha256" and not re.fullmatch(r"[a-f0-9]{64}", hexpart):
            raise ReferenceError(f"invalid checksum digest format in {text!r}")
    if tag is None and digest is None:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def is_valid_reference(text: str) -> bool:
    try:
        parse_reference(text)
    except UsageError:
        return False
    return True
