"""RUN --mount values, parsed as BuildKit parses them once variables are expanded."""

from __future__ import annotations

import re
from dataclasses import dataclass

from etage.dockerfile.flags import split_mount_fields
from etage.dockerfile.suggest import did_you_mean
from etage.errors import InstructionError

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")
_KEYS = (
    "type", "from", "source", "target", "readonly", "id", "sharing", "required", "size",
    "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env",
)  # fmt: skip
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True, slots=True)
class RunMount:
    type: str
    target: str = ""
    source: str = ""
    from_: str = ""
    readonly: bool = True
    size: int = 0
    id: str = ""
    sharing: str = "shared"
    required: bool = False
    env: str | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


def _bool(key: str, value: str) -> bool:
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise InstructionError(f"invalid value for {key}: {value}")


def _ram_in_bytes(value: str) -> int:
    """go-units RAMInBytes: 64m, 1g, 512k, 100 (binary multiples)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)[iI]?[bB]?", value.strip())
    if m is None:
        raise InstructionError(f"invalid value for size: {value}")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    return int(float(m.group(1)) * scale[m.group(2).lower()])


def parse_run_mount(spec: str) -> RunMount:
    """One --mount value (after expansion), with BuildKit's defaults and errors."""
    fields = split_mount_fields(spec)
    values: dict[str, object] = {"type": "bind"}
    ro_auto = True
    for field in fields:
        key, eq, value = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                values["readonly"], ro_auto = True, False
            elif key in ("readwrite", "rw"):
                values["readonly"], ro_auto = False, False
            elif key == "required":
                if values["type"] not in ("secret", "ssh"):
                    raise InstructionError(
                        f"unexpected key '{key}' for mount type '{values['type']}'"
                    )
                values["required"] = True
            else:
                raise InstructionError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            kind = value.lower()
            if kind not in MOUNT_TYPES:
                raise InstructionError(
                    f'unsupported mount type "{value}"' + did_you_mean(value, MOUNT_TYPES)
                )
            values["type"] = kind
        elif key == "from":
            values["from_"] = value
        elif key in ("source", "src"):
            values["source"] = value
        elif key in ("target", "dst", "destination"):
            values["target"] = value
        elif key in ("readonly", "ro"):
            values["readonly"], ro_auto = _bool(key, value), False
        elif key in ("readwrite", "rw"):
            values["readonly"], ro_auto = not _bool(key, value), False
        elif key == "required":
            if values["type"] not in ("secret", "ssh"):
                raise InstructionError(f"unexpected key '{key}' for mount type '{values['type']}'")
            values["required"] = _bool(key, value)
        elif key == "size":
            if values["type"] != "tmpfs":
                raise InstructionError(f"unexpected key '{key}' for mount type '{values['type']}'")
            values["size"] = _ram_in_bytes(value)
        elif key == "id":
            values["id"] = value
        elif key == "sharing":
            if value.lower() not in SHARING:
                raise InstructionError(
                    f'unsupported sharing value "{value}"' + did_you_mean(value, SHARING)
                )
            values["sharing"] = value.lower()
        elif key in ("mode", "uid", "gid"):
            try:
                number = int(value, 8 if key == "mode" else 10)
            except ValueError:
                raise InstructionError(f"invalid value {value} for {key}") from None
            if number < 0 or number >= 1 << 32:
                raise InstructionError(f"invalid value {value} for {key}")
            values[key] = number
        elif key == "env":
            values["env"] = value
        else:
            raise InstructionError(
                f"unexpected key '{key}' in '{field}'" + did_you_mean(key, _KEYS)
            )
    kind = str(values["type"])
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if values.get(key) is not None:
                raise InstructionError(f'{key} not allowed for "{kind}" type mounts')
    if ro_auto:
        values["readonly"] = kind not in ("cache", "tmpfs")
    if kind == "secret":
        if values.get("from_"):
            raise InstructionError("secret mount should not have a from")
        if "sharing" in values:
            raise InstructionError("secret mount should not define sharing")
        if not values.get("source") and not values.get("target") and not values.get("id"):
            raise InstructionError("invalid secret mount. one of source, target required")
        if values.get("source") and values.get("id"):
            raise InstructionError("both source and id can't be set")
    if "sharing" in values and kind != "cache":
        raise InstructionError(f"invalid cache sharing set for {kind} mount")
    mount = RunMount(**values)  # type: ignore[arg-type]
    if kind == "secret":
        sid = mount.id or mount.source or mount.target.rsplit("/", 1)[-1]
        target = mount.target or (f"/run/secrets/{sid}" if not mount.env else "")
        mount = RunMount(**{**values, "id": sid, "target": target})  # type: ignore[arg-type]
    elif not mount.target:
        raise InstructionError("mount target must be set")
    if kind == "cache" and not mount.id:
        mount = RunMount(**{**values, "id": mount.target})  # type: ignore[arg-type]
    return mount
