"""Image references (`node:18`, `ghcr.io/org/app@sha256:...`) with Docker's grammar.

Only what the frontend needs for now: validation and normalisation
(`node:18` -> `docker.io/library/node:18`). The grammar is distribution/reference's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from etage.errors import UsageError

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?\Z"
)
NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_DOMAIN = "docker.io"


@dataclass(frozen=True, slots=True)
class Reference:
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> Reference:
    """Parse and normalise like docker (default registry, library/, tag latest)."""
    m = _REFERENCE.match(text)
    if m is None or text == "":
        hint = None
        if text != text.lower() and _REFERENCE.match(text.lower()):
            hint = "repository names must be lowercase"
        raise UsageError(f"invalid reference format: {text!r}", hint=hint)
    name = m.group("name")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise UsageError(f"invalid reference format: repository name {text!r} is too long")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    tag = m.group("tag")
    digest = m.group("digest")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(domain, path, tag, digest)


def is_valid_reference(text: str) -> bool:
    try:
        parse_reference(text)
    except UsageError:
        return False
    return True
