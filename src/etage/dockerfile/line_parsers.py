"""Per-keyword argument parsing, as BuildKit's parser does it.

Each keyword splits its arguments its own way: RUN/CMD/ENTRYPOINT/SHELL keep one
string unless written as a JSON array, COPY/ADD/VOLUME split on whitespace, ENV and
LABEL read key/value pairs (with quotes kept for later expansion), ARG reads words,
HEALTHCHECK takes a type then a command. These functions return the argument tuple
and whether the exec (JSON) form was used. They mirror the Go code's quirks on
purpose, because tools and users rely on `docker build` parsing exactly this way.
"""

from __future__ import annotations

import json as _json
import math
import re
from collections.abc import Callable

from etage.dockerfile.gocompat import GO_SPACE_BYTES, GO_SPACES, quote, regexp_split

# Go: regexp.MustCompile(`[\t\v\f\r ]+`)
WHITESPACE = re.compile(r"[\t\v\f\r ]+")

NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


class ArgumentError(ValueError):
    """The arguments of one instruction cannot be parsed."""


# A parser returns (args, is_json, separators-for-ENV/LABEL).
Parsed = tuple[tuple[str, ...], bool, tuple[str, ...]]


def _no_nan(name: str) -> object:
    raise ValueError(name)


def _go_number(text: str) -> float:
    # Go decodes every JSON number into an interface{} as a float64 (strconv.ParseFloat);
    # one out of its range (1e400, a 400-digit integer) is an UnmarshalTypeError, so the
    # text is not an exec form at all: shell form, not the "strings only" error.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} out of range")
    return value


_DECODER = _json.JSONDecoder(parse_constant=_no_nan, parse_float=_go_number, parse_int=_go_number)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _fix_surrogates(s: str) -> str:
    # Go's JSON decoder turns invalid UTF-16 escapes and invalid UTF-8 into U+FFFD.
    if _SURROGATE.search(s) is None:
        return s
    return _SURROGATE.sub("\ufffd", s)


# encoding/json's scanner refuses values nested more than this deep.
_GO_MAX_JSON_DEPTH = 10000
_JSON_TOKEN = re.compile(
    r'[ \t\n\r]*(?:([][{},:])|("(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*")'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|true|false|null)"
)


def _valid_deep_json(text: str) -> bool:
    """Would Go decode `text` as one JSON value? Without recursion, for deep nesting."""
    stack: list[str] = []
    state = "value"  # value, first (after "["), key, first-key (after "{"), colon, after
    pos = 0
    while True:
        if state == "after" and not stack:
            return text[pos:].strip(" \t\n\r") == ""
        m = _JSON_TOKEN.match(text, pos)
        if m is None:
            return False
        pos = m.end()
        punct, string, number = m.group(1), m.group(2), m.group(3)
        if number is not None and math.isinf(float(number)):
            return False  # out of float64 range: an UnmarshalTypeError in Go
        if state in ("value", "first"):
            if punct in ("[", "{"):
                stack.append(punct)
                if len(stack) > _GO_MAX_JSON_DEPTH:
                    return False
                state = "first" if punct == "[" else "first-key"
            elif punct == "]" and state == "first":
                stack.pop()
                state = "after"
            elif punct is None:
                state = "after"
            else:
                return False
        elif state in ("key", "first-key"):
            if string is not None:
                state = "colon"
            elif punct == "}" and state == "first-key":
                stack.pop()
                state = "after"
            else:
                return False
        elif state == "colon":
            if punct != ":":
                return False
            state = "value"
        elif punct == ",":
            state = "value" if stack[-1] == "[" else "key"
        elif (punct, stack[-1]) in (("]", "["), ("}", "{")):
            stack.pop()
        else:
            return False


def parse_json_array(rest: str) -> tuple[str, ...] | None:
    """The exec form: a JSON array of strings, or None when `rest` is not valid JSON.

    Raises ArgumentError for valid JSON that holds something other than strings.
    Like current BuildKit (json.Unmarshal), anything after the array makes it invalid.
    """
    rest = rest.lstrip("".join(GO_SPACES))
    if not rest.startswith("["):
        return None
    try:
        value = _DECODER.decode(rest)
    except RecursionError:
        # Nested deeper than Python's decoder can go, but Go's accepts 10000 levels:
        # if Go reads it, the array holds an array or an object, not only strings.
        if _valid_deep_json(rest):
            raise ArgumentError(NOT_STRING_ARRAY) from None
        return None
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ArgumentError(NOT_STRING_ARRAY)
        out.append(_fix_surrogates(item))
    return tuple(out)


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace, keeping quotes and escapes in the words (parseWords)."""
    # Bytes that are not UTF-8 (only after flags cut a character in two, see
    # extract_builder_flags) are U+FFFD to Go's rune decoding, in the words too.
    rest = _fix_surrogates(rest)
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word: list[str] = []
    quote_ch = ""
    blank_ok = False
    n = len(rest)
    pos = 0
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if ch in GO_SPACES:
                pos += 1
                continue
            phase = in_word
        if pos == n:  # in a word or a quote at the end of the input
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == in_word:
            if ch in GO_SPACES:
                phase = in_spaces
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote_ch = ch
                blank_ok = True
                phase = in_quote
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue  # an escape at the very end is dropped
                # outside quotes, keep the escape and the escaped char, even a quote
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        # in a quote
        if ch == quote_ch:
            phase = in_word
        if ch == escape and quote_ch != "'":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            word.append(ch)
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


def parse_ignore(rest: str, escape: str, keyword: str) -> Parsed:
    # Unknown instructions keep one empty argument (the Go parser's empty node).
    return ("",), False, ()


def parse_name_or_name_val(rest: str, escape: str, keyword: str) -> Parsed:
    return tuple(parse_words(rest, escape)), False, ()


def parse_name_val(rest: str, escape: str, keyword: str) -> Parsed:
    """ENV and LABEL: `key=value ...`, or the legacy `key value` form."""
    words = parse_words(rest, escape)
    if not words:
        return (), False, ()
    if "=" not in words[0]:
        parts = regexp_split(WHITESPACE, rest, 2)
        if len(parts) < 2:
            raise ArgumentError(f"{keyword} must have two arguments")
        return (parts[0], parts[1]), False, ("",)
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise ArgumentError(
                f"Syntax error - can't find = in {quote(word)}. Must be of the form: name=value"
            )
        key, _, value = word.partition("=")
        args += (key, value)
    return tuple(args), False, ("=",) * len(words)


def parse_strings_whitespace_delimited(rest: str, escape: str, keyword: str) -> Parsed:
    if rest == "":
        return (), False, ()
    return tuple(regexp_split(WHITESPACE, rest, -1)), False, ()


def parse_string(rest: str, escape: str, keyword: str) -> Parsed:
    if rest == "":
        return (), False, ()
    return (rest,), False, ()


def parse_maybe_json(rest: str, escape: str, keyword: str) -> Parsed:
    if rest == "":
        return (), False, ()
    arr = parse_json_array(rest)
    if arr is not None:
        return arr, True, ()
    return (rest,), False, ()


def parse_maybe_json_to_list(rest: str, escape: str, keyword: str) -> Parsed:
    arr = parse_json_array(rest)
    if arr is not None:
        return arr, True, ()
    return parse_strings_whitespace_delimited(rest, escape, keyword)


def parse_health_config(rest: str, escape: str, keyword: str) -> Parsed:
    # The Go code scans bytes here, so the bytes 0x85 and 0xA0 inside a UTF-8
    # sequence count as spaces. Work on bytes to match it.
    raw = rest.encode("utf-8", "surrogateescape")
    sep = 0
    while sep < len(raw) and raw[sep] not in GO_SPACE_BYTES:
        sep += 1
    nxt = sep
    while nxt < len(raw) and raw[nxt] in GO_SPACE_BYTES:
        nxt += 1
    if sep == 0:
        return (), False, ()
    typ = raw[:sep].decode("utf-8", "surrogateescape")
    cmd_args, is_json, _ = parse_maybe_json(
        raw[nxt:].decode("utf-8", "surrogateescape"), escape, keyword
    )
    return (typ, *cmd_args), is_json, ()


LineParser = Callable[[str, str, str], Parsed]

DISPATCH: dict[str, LineParser] = {
    "add": parse_maybe_json_to_list,
    "arg": parse_name_or_name_val,
    "cmd": parse_maybe_json,
    "copy": parse_maybe_json_to_list,
    "entrypoint": parse_maybe_json,
    "env": parse_name_val,
    "expose": parse_strings_whitespace_delimited,
    "from": parse_strings_whitespace_delimited,
    "healthcheck": parse_health_config,
    "label": parse_name_val,
    "maintainer": parse_string,
    "run": parse_maybe_json,
    "shell": parse_maybe_json,
    "stopsignal": parse_string,
    "user": parse_string,
    "volume": parse_maybe_json_to_list,
    "workdir": parse_string,
}

KNOWN_KEYWORDS = frozenset([*DISPATCH, "onbuild"])


def extract_builder_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Take the leading `--flag[=value]` words off `line`; return (rest, flags).

    BuildKit scans bytes here and turns each byte into a character, so non-ASCII text
    in a flag comes out as its Latin-1 reading (and bytes 0x85/0xA0 split words).
    Matching that keeps etage's flags identical to BuildKit's.
    """
    if not line.startswith("-"):
        return line, []
    raw = line.encode("utf-8", "surrogateescape")
    esc = ord(escape)
    n = len(raw)
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word = bytearray()
    quote_ch = 0
    blank_ok = False
    pos = 0
    while pos <= n:
        ch = raw[pos] if pos < n else -1
        if phase == in_spaces:
            if pos == n:
                break
            if ch in GO_SPACE_BYTES:
                pos += 1
                continue
            if ch != 0x2D or pos + 1 == n or raw[pos + 1] != 0x2D:
                return raw[pos:].decode("utf-8", "surrogateescape"), words
            phase = in_word
        if pos == n:
            if bytes(word) != b"--" and (blank_ok or word):
                words.append(word.decode("latin-1"))
            break
        if phase == in_word:
            if ch in GO_SPACE_BYTES:
                phase = in_spaces
                if bytes(word) == b"--":
                    return raw[pos:].decode("utf-8", "surrogateescape"), words
                if blank_ok or word:
                    words.append(word.decode("latin-1"))
                word = bytearray()
                blank_ok = False
                pos += 1
                continue
            if ch in (0x27, 0x22):
                quote_ch = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == esc:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = raw[pos]
            word.append(ch)
            pos += 1
            continue
        # in a quote
        if ch == quote_ch:
            phase = in_word
            pos += 1
            continue
        if ch == esc:
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = raw[pos]
        word.append(ch)
        pos += 1
    return "", words
