"""Encoding tar headers exactly as Go's `archive/tar` does with `Format: FormatPAX`.

BuildKit and containerd write layers with Go's `archive/tar`; encoding the same header
fields the same way means the same entries give the same bytes, hence the same diffID.
The rules, ported from Go's `writer.go` and `format.go` (Go 1.19-1.22):

* an entry whose fields all fit a ustar header is written as plain ustar, a name longer
  than 100 bytes being split into the prefix and name fields when it can be;
* otherwise an extended header (type `x`, named `dir/PaxHeaders.0/base`, its numbers zero
  and its device fields empty) carries the records, sorted by key, and the ustar header
  that follows holds what fits: ASCII-only names cut to their field, numbers too large
  for their octal field as zero;
* numbers are octal with leading zeros and a NUL; the checksum is six digits, NUL, space.

`tests/test_layer_tar.py` checks the bytes against Go's when Go is installed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etage.oci.tar import TarEntry

BLOCK = 512
_NAME, _PREFIX = 100, 155
_MAX_OCTAL = {8: 8**7, 12: 8**11}
_FILE, _HARDLINK, _SYMLINK, _DIR = b"0", b"1", b"2", b"5"  # EntryType values


def padding(size: int) -> bytes:
    """The zero bytes that complete `size` bytes of content to a whole block."""
    return b"\x00" * (-size % BLOCK)


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def pax_record(key: bytes, value: bytes) -> bytes:
    """One `"%d %s=%s\\n"` record, its length counting its own digits."""
    body = b" " + key + b"=" + value + b"\n"
    size = len(body) + 1
    while len(b"%d" % size) + len(body) != size:
        size = len(b"%d" % size) + len(body)
    return b"%d" % size + body


def _go_ascii(raw: bytes) -> bytes:
    """Go's `toASCII`: the ASCII characters of a string, others (and NUL) dropped."""
    return raw if raw.isascii() and b"\x00" not in raw else bytes(b for b in raw if 0 < b < 0x80)


def _string_field(value: bytes, size: int) -> bytes:
    """Go's `formatString`: the value cut to the field, NUL-terminated if shorter."""
    field = bytearray(value[:size].ljust(size, b"\x00"))
    if len(value) > size and field[-1] == ord("/"):
        # Go's fix for readers that take a cut name ending in "/" for a directory
        field[len(value[: size - 1].rstrip(b"/"))] = 0
    return bytes(field)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Go's `splitUSTARPath`: (prefix, name) fields for a long ASCII name, if it splits."""
    length = len(name)
    if length <= _NAME or not name.isascii():
        return None
    if length > _PREFIX + 1:
        length = _PREFIX + 1
    elif name[length - 1] == ord("/"):
        length -= 1
    i = name.rfind(b"/", 0, length)
    if i <= 0 or len(name) - i - 1 > _NAME or len(name) - i - 1 == 0 or i > _PREFIX:
        return None
    return name[:i], name[i + 1 :]


def _pax_header_name(name: bytes) -> bytes:
    """Go's name for the extended header of `name`: `dir/PaxHeaders.0/base`."""
    head, _, base = name.rpartition(b"/")
    joined = (head + b"/" if head else b"") + b"PaxHeaders.0" + (b"/" + base if base else b"")
    return _go_ascii(joined)[:_NAME].rstrip(b"/")


def _block(
    name: bytes,
    typeflag: bytes,
    numbers: tuple[int, int, int, int, int],
    *,
    linkname: bytes = b"",
    prefix: bytes = b"",
    devices: tuple[int, int] | None = (0, 0),
) -> bytes:
    mode, uid, gid, size, mtime = numbers
    parts = [
        _string_field(_go_ascii(name), _NAME),
        _octal(mode, 8),
        _octal(uid, 8),
        _octal(gid, 8),
        _octal(size, 12),
        _octal(mtime, 12),
        b" " * 8,  # the checksum, computed with these spaces in place
        typeflag,
        _string_field(_go_ascii(linkname), _NAME),
        b"ustar\x0000",
        b"\x00" * 64,  # uname, gname: empty
        _octal(devices[0], 8) + _octal(devices[1], 8) if devices else b"\x00" * 16,
        _string_field(prefix, _PREFIX),
        b"\x00" * 12,
    ]
    block = bytearray(b"".join(parts))
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def encode_headers(entry: TarEntry, path: str, mtime: int) -> bytes:
    """The header block(s) of an entry with a clean `path`; ValueError if it cannot be."""
    kind = entry.type
    typeflag = kind.value.encode()
    name = os.fsencode(path) + (b"/" if typeflag == _DIR else b"")
    is_link = typeflag in (_SYMLINK, _HARDLINK)
    link = os.fsencode(entry.linkname) if is_link else b""
    if is_link and not link:
        raise ValueError(f"a {kind.name.lower()} needs a target")
    if b"\x00" in link:
        raise ValueError("a link target cannot contain a NUL byte")
    if not 0 <= entry.mode <= 0o7777:
        raise ValueError(f"invalid mode {entry.mode:o} (permission bits only)")
    for dev in (entry.devmajor, entry.devminor):
        if not 0 <= dev < _MAX_OCTAL[8]:
            raise ValueError(f"device number {dev} does not fit a tar header")
    size = entry.size if typeflag == _FILE else 0
    pax: dict[bytes, bytes] = {}
    if len(name) > _NAME or not name.isascii():
        pax[b"path"] = name
    if len(link) > _NAME or not link.isascii():
        pax[b"linkpath"] = link
    fields = []
    for key, number, width in (
        (b"uid", entry.uid, 8), (b"gid", entry.gid, 8), (b"size", size, 12),
        (b"mtime", int(mtime), 12),
    ):  # fmt: skip
        if 0 <= number < _MAX_OCTAL[width]:
            fields.append(number)
        else:
            pax[key] = b"%d" % number
            fields.append(0)
    for attr, value in entry.xattrs.items():
        if not attr or "=" in attr or "\x00" in attr:
            raise ValueError(f"invalid extended attribute name {attr!r}")
        pax[b"SCHILY.xattr." + os.fsencode(attr)] = bytes(value)
    uid, gid, size_field, mtime_field = fields
    numbers = (entry.mode, uid, gid, size_field, mtime_field)
    devices = (entry.devmajor, entry.devminor)
    if set(pax) == {b"path"} and (split := _split_ustar(name)):
        prefix, rest = split  # plain ustar: Go prefers it whenever everything fits
        return _block(rest, typeflag, numbers, linkname=link, prefix=prefix, devices=devices)
    out = b""
    if pax:
        records = b"".join(pax_record(k, pax[k]) for k in sorted(pax))
        out = _block(_pax_header_name(name), b"x", (0, 0, 0, len(records), 0), devices=None)
        out += records + padding(len(records))
    return out + _block(name, typeflag, numbers, linkname=link, devices=devices)
