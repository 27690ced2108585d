"""`COPY --chmod`: octal modes and, since Dockerfile 1.14, chmod(1)'s symbolic modes.

The frontend (BuildKit's `dispatchCopy`) first tries the value as an unsigned octal
number: up to 07777 it is an absolute mode, special bits included (current BuildKit sets
setuid, setgid and sticky from it; BuildKit 0.8, in Docker 20.10, dropped them). Anything
else goes to tonistiigi/dchapes-mode, a port of BSD's `setmode(3)`, with a zero umask:

* clauses are separated by `,`; each is `[ugoa]*` then one or more `op perms` groups,
  op being `+`, `-` or `=`; perms are letters of `rwxXst` or one of `ugo` (copy the
  bits of that class);
* `X` is execute only for directories and for files that already have an execute bit
  (judged on the mode before any change); under `-` it is a plain `x`;
* with no `ugoa`, `+r` means `a+r` (the umask being 0); `s` is ignored for `o`, `t` is
  only honoured with no class or with `u`/`a` (and then narrows the clause to the sticky
  bit, a quirk of the BSD code kept here);
* `u=rwX,go=rX` gives 0644 to files, 0755 to directories and executable files.

A value starting with a digit that is not valid octal is the frontend's "invalid chmod
parameter" error; any other malformed value is "invalid syntax".
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

__all__ = ["ChmodError", "ChmodSpec", "parse_chmod"]

_ISUID, _ISGID, _ISTXT = 0o4000, 0o2000, 0o1000
_IRWXU, _IRWXG, _IRWXO = 0o700, 0o070, 0o007
_R = 0o444
_W = 0o222
_X = 0o111
_STANDARD = _ISUID | _ISGID | _IRWXU | _IRWXG | _IRWXO
_MASK = 0xFFFF  # ~umask with a zero umask, as a 16-bit mode_t
# flags of the copy commands (cmd2)
_CLEAR, _SET, _GBITS, _OBITS, _UBITS = 1, 2, 4, 8, 16

Command = tuple[str, int, int]  # (cmd, cmd2, bits)


class ChmodError(ValueError):
    """An invalid --chmod value (the message is BuildKit's)."""


@dataclass(frozen=True, slots=True)
class ChmodSpec:
    """A parsed --chmod value: an absolute octal mode, or symbolic commands."""

    text: str
    octal: int | None = None
    commands: tuple[Command, ...] = ()

    def apply(self, st_mode: int) -> int:
        """The permission and special bits (07777) a copied entry with `st_mode` gets."""
        if self.octal is not None:
            return self.octal
        return _apply(self.commands, st_mode)

    @property
    def parent_mode(self) -> int:
        """The mode of directories the copy creates above its destination.

        Current BuildKit (fsutil since 2025-02) creates them with an octal --chmod's
        permission bits; a symbolic one leaves them at 0755 (BuildKit 0.8 always used 0755).
        """
        return (self.octal & 0o777) if self.octal is not None else 0o755


def parse_chmod(text: str) -> ChmodSpec:
    """Validate and parse a --chmod value as BuildKit's frontend and fsutil do."""
    non_octal = ChmodError(
        f"invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777"
    )
    if text and all(c in "01234567" for c in text):
        value = int(text, 8)
        if value > 0o7777:
            raise non_octal
        return ChmodSpec(text, octal=value)
    if text and text[0].isascii() and text[0].isdigit():
        raise non_octal  # looks numeric: strconv fails, the frontend reports it this way
    return ChmodSpec(text, commands=_parse_symbolic(text))


def _syntax() -> ChmodError:
    return ChmodError("invalid syntax")


def _parse_symbolic(s: str) -> tuple[Command, ...]:
    if not s:
        raise _syntax()
    cmds: list[Command] = []
    i, n = 0, len(s)
    equal_done = False
    while True:
        who = 0
        while True:
            if i >= n:
                raise _syntax()
            c = s[i]
            if c == "a":
                who |= _STANDARD
            elif c == "u":
                who |= _ISUID | _IRWXU
            elif c == "g":
                who |= _ISGID | _IRWXG
            elif c == "o":
                who |= _IRWXO
            else:
                break
            i += 1
        while True:  # one "op perms" group; several may follow one class list
            op = s[i]
            i += 1
            if op not in "+-=":
                raise _syntax()
            if op == "=":
                equal_done = False
            who &= ~_ISTXT
            perm = perm_x = 0
            while True:
                b = s[i] if i < n else ""
                if b == "r":
                    perm |= _R
                elif b == "s":
                    if who == 0 or who & ~_IRWXO:
                        perm |= _ISUID | _ISGID
                elif b == "t":
                    if who == 0 or who & ~_IRWXO:
                        who |= _ISTXT
                        perm |= _ISTXT
                elif b == "w":
                    perm |= _W
                elif b == "X":
                    if op != "-":
                        perm_x = _X
                    else:
                        perm |= _X
                elif b == "x":
                    perm |= _X
                elif b in ("u", "g", "o"):
                    if perm:
                        _add(cmds, op, who, perm)
                        perm = 0
                    if op == "=":
                        equal_done = True
                    if perm_x:
                        _add(cmds, "X", who, perm_x)
                        perm_x = 0
                    _add_copy(cmds, b, who, op)
                else:
                    if perm or (op == "=" and not equal_done):
                        if op == "=":
                            equal_done = True
                        _add(cmds, op, who, perm)
                    if perm_x:
                        _add(cmds, "X", who, perm_x)
                    break
                i += 1
            if i >= n or s[i] == ",":
                break
        if i >= n:
            break
        i += 1  # the ","
    return tuple(_compress(cmds))


def _add(cmds: list[Command], op: str, who: int, oparg: int) -> None:
    if op == "=":
        cmds.append(("-", 0, who if who else _STANDARD))
        op = "+"
    cmds.append((op, 0, (who & oparg) if who else (_MASK & oparg)))


def _add_copy(cmds: list[Command], source: str, who: int, op: str) -> None:
    if who:
        cmd2 = 0
        if who & 0o400:
            cmd2 |= _UBITS
        if who & 0o040:
            cmd2 |= _GBITS
        if who & 0o004:
            cmd2 |= _OBITS
        bits = 0xFFFF
    else:
        cmd2 = _UBITS | _GBITS | _OBITS
        bits = _MASK
    cmd2 |= {"+": _SET, "-": _CLEAR, "=": _SET | _CLEAR}[op]
    cmds.append((source, cmd2, bits))


def _compress(cmds: list[Command]) -> list[Command]:
    """Runs of +, - and X commands merged into at most one of each (BSD's compress_mode)."""
    out: list[Command] = []
    i = 0
    while i < len(cmds):
        cmd = cmds[i]
        if cmd[0] not in "+-X":
            out.append(cmd)
            i += 1
            continue
        set_bits = clr_bits = x_bits = 0
        while i < len(cmds) and cmds[i][0] in "+-X":
            op, _, bits = cmds[i]
            if op == "-":
                clr_bits |= bits
                set_bits &= ~bits
                x_bits &= ~bits
            elif op == "+":
                set_bits |= bits
                clr_bits &= ~bits
                x_bits &= ~bits
            else:
                x_bits |= bits & ~set_bits
            i += 1
        if clr_bits:
            out.append(("-", 0, clr_bits))
        if set_bits:
            out.append(("+", 0, set_bits))
        if x_bits:
            out.append(("X", 0, x_bits))
    return out


def _apply(cmds: tuple[Command, ...], st_mode: int) -> int:
    old = st_mode & 0o7777
    is_dir = stat.S_ISDIR(st_mode)
    new = old
    for cmd, cmd2, bits in cmds:
        if cmd in ("u", "g", "o"):
            if cmd == "u":
                value = (new & _IRWXU) >> 6
            elif cmd == "g":
                value = (new & _IRWXG) >> 3
            else:
                value = new & _IRWXO
            if cmd2 & _CLEAR:
                clear = _IRWXO if cmd2 & _SET else value
                if cmd2 & _UBITS:
                    new &= ~((clear << 6) & bits)
                if cmd2 & _GBITS:
                    new &= ~((clear << 3) & bits)
                if cmd2 & _OBITS:
                    new &= ~(clear & bits)
            if cmd2 & _SET:
                if cmd2 & _UBITS:
                    new |= (value << 6) & bits
                if cmd2 & _GBITS:
                    new |= (value << 3) & bits
                if cmd2 & _OBITS:
                    new |= value & bits
        elif cmd == "+":
            new |= bits
        elif cmd == "-":
            new &= ~bits
        elif old & _X or is_dir:  # "X"
            new |= bits
    return new & 0o7777
