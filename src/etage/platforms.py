"""Platforms (os/architecture/variant) parsed and formatted as containerd does."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from etage.errors import UsageError

_ARCH_ALIASES = {
    "x86_64": "amd64", "x86-64": "amd64", "amd64": "amd64",
    "aarch64": "arm64", "arm64": "arm64", "armhf": "arm", "armel": "arm", "arm": "arm",
    "i386": "386", "i686": "386", "386": "386",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}  # fmt: skip
_KNOWN_OS = frozenset({"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris"})


@dataclass(frozen=True, slots=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        parts = [self.os, self.architecture]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`linux/amd64`, `linux/arm64/v8`, `arm64` (os defaults to linux)."""
        parts = text.strip().lower().split("/")
        if not parts[0] or len(parts) > 3 or any(p == "" for p in parts):
            raise UsageError(
                f"invalid platform {text!r}",
                hint="use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8",
            )
        if len(parts) == 1:
            if parts[0] in _KNOWN_OS:
                return cls(parts[0], host().architecture, host().variant)
            return cls._normalized("linux", parts[0], "")
        os_name = parts[0]
        if os_name not in _KNOWN_OS:
            raise UsageError(f"invalid platform {text!r}: unknown operating system {os_name!r}")
        return cls._normalized(os_name, parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def _normalized(cls, os_name: str, arch: str, variant: str) -> Platform:
        arch = _ARCH_ALIASES.get(arch, arch)
        if arch == "arm64" and variant == "v8":
            variant = ""  # containerd normalises arm64/v8 to arm64
        if arch == "arm" and variant == "":
            variant = "v7"
        return cls(os_name, arch, variant)


def host() -> Platform:
    machine = _platform.machine().lower()
    arch = _ARCH_ALIASES.get(machine, machine)
    return Platform("linux", arch, "v7" if arch == "arm" else "")
