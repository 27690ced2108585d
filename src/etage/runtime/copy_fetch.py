"""ADD of an http(s) URL: the download, as BuildKit's HTTP source makes it.

* the file is named after the last element of the URL's (decoded) path, or
  `__unnamed__` when there is none (`http://host/`); the Dockerfile frontend always
  passes that name, so `Content-Disposition` is not used;
* redirects are followed; a status below 200 or from 400 is "invalid response status";
* with `--checksum=sha256:...` (also sha384/sha512) the content must match, else
  "digest mismatch for URL: got (expected: want)";
* the file is mode 0600, owned by root; its mtime is the `Last-Modified` header's, or
  the epoch when there is none (so the copy gets that too).

Downloads go to a temporary directory (never into the root filesystem being built) and
are verified before anyone reads them. TLS trusts the system's certificate store, so a
corporate proxy's CA installed on the host works.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from etage.runtime.copy_source import CopyError
from etage.version import __version__

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["download", "is_git_source", "is_url", "url_filename"]

_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
UNNAMED = "__unnamed__"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def is_git_source(source: str) -> bool:
    """A Git repository reference (an approximation of BuildKit's `dfgitutil.ParseGitRef`)."""
    if source.startswith(("git://", "git@", "ssh://")):
        return True
    if is_url(source):
        path = urllib.parse.urlsplit(source.split("#", 1)[0]).path
        return path.endswith(".git")
    return False


def url_filename(url: str) -> str:
    """The name BuildKit gives a downloaded file: `path.Base` of the URL's path."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    trimmed = path.rstrip("/")
    if not trimmed:
        return UNNAMED  # "" -> "." and "/" -> "/": both unnamed
    base = posixpath.basename(trimmed)
    if base in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in base):
        return "download"  # BuildKit's SafeFileName
    return base


def _parse_checksum(text: str) -> tuple[str, str]:
    algorithm, sep, value = text.partition(":")
    if not sep or _ALGORITHMS.get(algorithm) != len(value) or value.strip("0123456789abcdef"):
        raise CopyError(
            f"invalid checksum digest format: {text!r}",
            hint="write --checksum=sha256:<64 hex digits>",
        )
    return algorithm, value


def _ssl_context() -> ssl.SSLContext:
    import ssl

    return ssl.create_default_context()


def _http_time(text: str) -> int | None:
    """Go's `http.ParseTime` (RFC 1123, RFC 850, asctime), in nanoseconds since the epoch."""
    import email.utils  # here: only downloads need it, and it is slow to import

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        when = None
    if when is None:
        for fmt in ("%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"):
            try:
                when = datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
                break
            except ValueError:
                continue
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000_000


def download(
    url: str,
    directory: Path,
    *,
    checksum: str | None = None,
    client: httpx.Client | None = None,
) -> Path:
    """Fetch `url` into `directory` (named as BuildKit names it); the file's path."""
    import httpx

    want = _parse_checksum(checksum) if checksum else None
    name = url_filename(url)
    target = directory / name
    owned = client is None
    if client is None:
        client = httpx.Client(
            verify=_ssl_context(),
            follow_redirects=True,
            timeout=httpx.Timeout(60.0, connect=30.0),
            headers={"User-Agent": f"etage/{__version__}"},
        )
    hasher = hashlib.new(want[0] if want else "sha256")
    try:
        with client.stream("GET", url) as response:
            if response.status_code < 200 or response.status_code >= 400:
                raise CopyError(
                    f"invalid response status {response.status_code}",
                    hint=f"ADD could not download {url}",
                )
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
            modified = response.headers.get("Last-Modified")
    except httpx.HTTPError as exc:
        raise CopyError(f"cannot download {url}: {exc}") from exc
    finally:
        if owned:
            client.close()
    if want is not None and hasher.hexdigest() != want[1]:
        got = f"{want[0]}:{hasher.hexdigest()}"
        raise CopyError(
            f"digest mismatch for {url}: {got} (expected: {checksum})",
            hint="the file at the URL changed, or --checksum is wrong",
        )
    os.chmod(target, 0o600)
    ns = (_http_time(modified) if modified else None) or 0
    os.utime(target, ns=(ns, ns))
    return target
