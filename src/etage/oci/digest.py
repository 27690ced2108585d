"""Content digests (`sha256:<hex>`): parsing, validation, and hashing while streaming."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO

from etage.errors import EtageError

_DIGEST = re.compile(r"(?P<alg>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)\Z")
_HEX_LENGTH = {"sha256": 64, "sha512": 128}


class DigestError(EtageError):
    exit_status = 2


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        m = _DIGEST.match(text)
        if m is None:
            raise DigestError(
                f"invalid digest {text!r}", hint="digests look like sha256:<64 hex digits>"
            )
        alg, hexpart = m.group("alg"), m.group("hex")
        if alg not in _HEX_LENGTH:
            raise DigestError(f"unsupported digest algorithm {alg!r} in {text!r}")
        if len(hexpart) != _HEX_LENGTH[alg] or not re.fullmatch(r"[0-9a-f]+", hexpart):
            raise DigestError(
                f"invalid {alg} digest {text!r}",
                hint=f"a {alg} digest has {_HEX_LENGTH[alg]} lower-case hex digits",
            )
        return cls(alg, hexpart)

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls("sha256", hashlib.sha256(data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        return self.hex[:12]

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


class HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, target: BinaryIO | None = None, algorithm: str = "sha256") -> None:
        self.target = target
        self.hash = hashlib.new(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hash.update(data)
        n = len(data)
        self.size += n
        if self.target is not None:
            self.target.write(data)
        return n

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    @property
    def digest(self) -> Digest:
        return Digest(self.algorithm, self.hash.hexdigest())


class HashingReader:
    """A read-only file object that hashes and counts what is read through it."""

    def __init__(self, source: BinaryIO, algorithm: str = "sha256") -> None:
        self.source = source
        self.hash = hashlib.new(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    @property
    def digest(self) -> Digest:
        return Digest(self.algorithm, self.hash.hexdigest())


def chain_ids(diff_ids: tuple[Digest, ...]) -> list[str]:
    """OCI chain IDs: chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n))."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(str(d))
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out
