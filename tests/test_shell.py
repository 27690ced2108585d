"""Tests of the Dockerfile shell lexer (BuildKit's shell.Lex semantics)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etage.dockerfile.shell import ShellLexer, WordResult
from etage.dockerfile.shell_patterns import ShellPattern, _StarMatcher
from etage.dockerfile.shell_scan import Scan
from etage.errors import ExpansionError

VECTORS = Path(__file__).parent / "vectors" / "expansion.tsv"
_CODEPOINT = re.compile(r"⟨U\+([0-9A-Fa-f]{4,6})⟩")
_OPTIONS = {"raw_quotes", "raw_escapes", "skip_process_quotes", "skip_unset_env"}


def _decode(text: str) -> str:
    return _CODEPOINT.sub(lambda m: chr(int(m.group(1), 16)), text)


@dataclass(frozen=True)
class Vector:
    line: int
    input: str
    env: dict[str, str]
    words_mode: bool
    escape_token: str
    options: dict[str, bool]
    expected: str
    note: str


def _load_vectors() -> list[Vector]:
    vectors = []
    for number, line in enumerate(VECTORS.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        columns = line.split("\t")
        assert len(columns) == 5, f"{VECTORS.name}:{number}: expected 5 columns: {line!r}"
        source, env_text, mode, expected, note = columns
        env: dict[str, str] = {}
        if env_text != "-":
            for pair in env_text.split(";"):
                key, sep, value = pair.partition("=")
                assert sep, f"{VECTORS.name}:{number}: bad env pair {pair!r}"
                env[_decode(key)] = _decode(value)
        kind, *flags = mode.split(",")
        assert kind in ("word", "words"), f"{VECTORS.name}:{number}: bad mode {mode!r}"
        escape_token = "\\"
        options = {}
        for flag in flags:
            if flag == "esc=backtick":
                escape_token = "`"
            else:
                assert flag in _OPTIONS, f"{VECTORS.name}:{number}: bad option {flag!r}"
                options[flag] = True
        vectors.append(
            Vector(
                number,
                _decode(source),
                env,
                kind == "words",
                escape_token,
                options,
                expected,
                note,
            )
        )
    return vectors


_VECTORS = _load_vectors()


def test_vector_file_is_substantial() -> None:
    assert len(_VECTORS) >= 150
    assert len({(v.input, tuple(v.env.items()), v.words_mode) for v in _VECTORS}) > 250


@pytest.mark.parametrize("vec", _VECTORS, ids=[f"L{v.line}-{v.note}" for v in _VECTORS])
def test_vector(vec: Vector) -> None:
    lexer = ShellLexer(vec.escape_token, **vec.options)
    process = lexer.process_words if vec.words_mode else lexer.process_word
    if vec.expected.startswith("ERROR: "):
        wanted = _decode(vec.expected.removeprefix("ERROR: "))
        with pytest.raises(ExpansionError) as info:
            process(vec.input, vec.env)
        assert wanted in info.value.message
        assert info.value.message.startswith("failed to process ")
        assert info.value.location is None
        return
    if vec.words_mode:
        words = lexer.process_words(vec.input, vec.env)
        expected_words = [] if vec.expected == "∅" else vec.expected.split("¦")
        assert words == [_decode(w) for w in expected_words]
        # process_word reports the same words alongside the result.
        assert list(lexer.process_word(vec.input, vec.env).words) == words
    else:
        expected = "" if vec.expected == "∅" else _decode(vec.expected)
        assert lexer.process_word(vec.input, vec.env).result == expected


# -- names looked up ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "env", "result", "matched", "unmatched"),
    [
        ("x", {"DUMMY": "d"}, "x", set(), set()),
        ("x ${UNUSED}", {}, "x ", set(), {"UNUSED"}),
        ("${FOO-a} ${BAR-b} ${BAZ-c}", {"FOO": "x", "BAR": ""}, "x  c", {"FOO", "BAR"}, {"BAZ"}),
        ("${A:-.}${FOO%x}${A:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO"}, {"A"}),
        ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}, set()),
        ("${F/$N/$R}", {"F": "ab", "N": "a", "R": "c"}, "cb", {"F", "N", "R"}, set()),
        ("${F///}", {}, "", set(), {"F"}),
        ("$1 $@ ${#}", {}, "  ", set(), {"1", "@", "#"}),
        ("'$A' \\$B \"$C\"", {"C": "c"}, "$A $B c", {"C"}, set()),
        # $0 in a replacement is looked up as a variable before Go's template sees it.
        ("${F//x/$0}", {"F": "axb"}, "ab", {"F"}, {"0"}),
        # The name is looked up once per expansion, even when its value is not used.
        ("${A:+x}", {"A": ""}, "", {"A"}, set()),
    ],
)
def test_matched_and_unmatched(
    word: str, env: dict[str, str], result: str, matched: set[str], unmatched: set[str]
) -> None:
    res = ShellLexer().process_word(word, env)
    assert res.result == result
    assert res.matched == matched
    assert res.unmatched == unmatched


def test_skip_unset_env_still_records_names() -> None:
    res = ShellLexer(skip_unset_env=True).process_word("${A:-x}$B", {"B": "b"})
    assert res.result == "${A:-x}b"
    assert res.matched == {"B"}
    assert res.unmatched == {"A"}


def test_names_are_case_sensitive() -> None:
    res = ShellLexer().process_word("$path", {"PATH": "/bin"})
    assert res.result == ""
    assert res.unmatched == {"path"}


def test_word_result_words_follow_process_words() -> None:
    lexer = ShellLexer()
    env = {"A": "1 2", "B": ""}
    for word in ["a b", "$A x", '"$A" x', "ab${Z:-c}d", "x\\ y $B z", "<< a"]:
        assert list(lexer.process_word(word, env).words) == lexer.process_words(word, env)


def test_mandatory_message_is_expanded() -> None:
    lexer = ShellLexer()
    with pytest.raises(ExpansionError, match=r"VAR: message herex$"):
        lexer.process_word("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"})
    assert lexer.process_word("${VAR?message here$ARG}", {"VAR": ""}).result == ""


def test_error_message_in_full() -> None:
    with pytest.raises(ExpansionError) as info:
        ShellLexer().process_words("a ${b", {})
    expected = 'failed to process "a ${b": unsupported modifier (\ufffd) in substitution'
    assert str(info.value) == expected
    assert info.value.exit_status == 2


def test_bytes_that_were_not_utf8_become_replacement_characters() -> None:
    # A Dockerfile decoded with errors="surrogateescape" keeps bad bytes as lone
    # surrogates; Go's scanner turns each such byte into U+FFFD.
    word = "a\udcff$X"
    assert ShellLexer().process_word(word, {"X": "x"}).result == "a\ufffdx"
    assert ShellLexer().process_word("\udcfe", {}).result == "\ufffd"
    with pytest.raises(ExpansionError) as info:
        ShellLexer().process_word("\udcff${", {})
    assert info.value.message.startswith('failed to process "\\xff${"')


def test_env_values_with_bad_bytes_split_like_go() -> None:
    # Go ranges over an unquoted value rune by rune when splitting it, so a byte that
    # is not UTF-8 becomes U+FFFD in the words; the result keeps the value as it is.
    lexer = ShellLexer()
    res = lexer.process_word("$V x", {"V": "a\udcffb c"})
    assert res.result == "a\udcffb c x"
    assert res.words == ("a\ufffdb", "c", "x")
    assert lexer.process_words('"$V"', {"V": "a\udcff"}) == ["a\udcff"]


@pytest.mark.parametrize(
    ("word", "result"),
    [
        # Checked against BuildKit's lex.go fed the same bytes (\udcXX is byte XX).
        ("${V#x}", "a\udcffb\udcfe"),  # no match: the value is sliced, not decoded
        ("${V%x}", "a\ufffdb\ufffd"),  # '%' reverses rune slices: bad bytes are lost
        ("${V#a$P}", "b\udcfe"),  # a bad byte in the pattern matches one in the value
        ("${V#a?}", "b\udcfe"),
        ("${V%$R}", "a\ufffd"),
        ("${V/$P/-}", "a-b\udcfe"),
        ("${V//?/-}", "----"),
        ("${V//\ufffd/-}", "a-b-"),  # U+FFFD in a pattern matches a bad byte
    ],
)
def test_patterns_on_bad_bytes(word: str, result: str) -> None:
    env = {"V": "a\udcffb\udcfe", "P": "\udcff", "R": "b\udcfe"}
    assert ShellLexer().process_word(word, env).result == result


def test_escape_token_must_be_one_character() -> None:
    with pytest.raises(ValueError, match="one character"):
        ShellLexer("")
    with pytest.raises(ValueError, match="one character"):
        ShellLexer("\\\\")


def test_lexer_is_reusable() -> None:
    lexer = ShellLexer()
    with pytest.raises(ExpansionError):
        lexer.process_word("${A:?}", {})
    expected = WordResult("ok", ("ok",), frozenset(), frozenset({"A"}))
    assert lexer.process_word("${A:-ok}", {}) == expected
    assert lexer.process_word("$B", {"B": "b"}).matched == {"B"}


def test_patterns_with_many_wildcards_stay_linear() -> None:
    # Backtracking would take hours here; Go's RE2 (and etage) take milliseconds.
    lexer = ShellLexer()
    value = "a" * 2000
    env = {"V": value}
    assert lexer.process_word("${V#*a*a*a*b}", env).result == value
    assert lexer.process_word("${V##*a*a*b}", env).result == value
    assert lexer.process_word("${V%%a*a*a*b}", env).result == value
    assert lexer.process_word("${V//*a*a*b/x}", env).result == value
    assert lexer.process_word("${V%%a*a}", env).result == ""
    assert lexer.process_word("${V//a*a/x}", env).result == "x"


# -- properties ----------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    [
        *"$${}{}:-+?#%/*\\`'\"<< \t\nab_1@!.=",
        *("\u00a0", "\x1c", "\ufeff", "한", "\udcff", "\u2003", "\x00", "٣"),
    ]
)
_ENV = {"a": "x y", "b": "", "c": "*", "d": "$0", "e": "\\"}
_PLAIN = st.text(
    alphabet=st.characters(
        blacklist_characters="$'\"\\<`",
        blacklist_categories=["Cs"],
    )
).filter(lambda s: not s.startswith("\ufeff"))


_LEXERS = st.builds(
    ShellLexer,
    st.sampled_from(["\\", "`"]),
    raw_quotes=st.booleans(),
    raw_escapes=st.booleans(),
    skip_process_quotes=st.booleans(),
    skip_unset_env=st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(st.text(), st.lists(_ALPHABET, max_size=24).map("".join)),
    lexer=_LEXERS,
)
def test_only_expansion_errors_escape(text: str, lexer: ShellLexer) -> None:
    # Anything but ExpansionError propagates and fails the test.
    messages = []
    try:
        res = lexer.process_word(text, _ENV)
    except ExpansionError as e:
        messages.append(e.message)
    else:
        assert isinstance(res.result, str)
        assert all(res.words)
        assert not res.matched & res.unmatched
    try:
        words = lexer.process_words(text, _ENV)
    except ExpansionError as e:
        messages.append(e.message)
    else:
        assert all(words)
    assert all(m.startswith("failed to process ") for m in messages)


@settings(max_examples=300, deadline=None)
@given(text=_PLAIN, escape=st.sampled_from(["\\", "`"]))
def test_plain_text_is_unchanged(text: str, escape: str) -> None:
    lexer = ShellLexer(escape)
    res = lexer.process_word(text, _ENV)
    assert res.result == text
    assert not res.matched
    assert not res.unmatched
    go_spaces = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
        chr(c) for c in range(0x2000, 0x200B)
    )
    expected_words = [w for w in re.split(f"[{re.escape(go_spaces)}]+", text) if w]
    assert list(res.words) == expected_words
    assert lexer.process_words(text, _ENV) == expected_words


_REFS = st.lists(
    st.sampled_from(
        ["$", "${", "}", "a", "x0", "_", "1", "한", "²", "٣", " ", "\x1c", "/", "é", "$a", "${a}"]
    ),
    max_size=12,
).map("".join)
_REF_ENV = {"a": "x y", "x0": "X", "a한": "k", "_": " \x1c ", "1": "one", "é": "e"}


@settings(max_examples=300, deadline=None)
@given(text=_REFS, skip_unset=st.booleans())
def test_fast_paths_agree_with_the_scanner(text: str, skip_unset: bool) -> None:
    lexer = ShellLexer(skip_unset_env=skip_unset)
    scan = Scan(lexer, text, _REF_ENV)
    try:
        result = scan.run()
    except ExpansionError:
        with pytest.raises(ExpansionError):
            lexer.process_word(text, _REF_ENV)
        return
    res = lexer.process_word(text, _REF_ENV)
    assert res.result == result
    assert list(res.words) == scan.words
    assert res.matched == scan.matched
    assert res.unmatched == scan.unmatched
    assert lexer.process_words(text, _REF_ENV) == scan.words


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet=st.sampled_from(list("ab/.*\\ \n한"))), name=st.just("V"))
def test_expanding_a_variable_yields_its_value(value: str, name: str) -> None:
    lexer = ShellLexer()
    env = {name: value}
    assert lexer.process_word(f"${name}", env).result == value
    assert lexer.process_word(f"${{{name}}}", env).result == value
    assert lexer.process_word(f"${{{name}:-x}}", env).result == (value or "x")
    assert lexer.process_word(f'"${name}"', env).words == ((value,) if value else ())


@settings(max_examples=500, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(["a", "b", "*", "?", "\n", "\\*", "."]), max_size=7).map(
        "".join
    ),
    text=st.text(alphabet="ab\n*.", max_size=14),
    greedy=st.booleans(),
)
def test_star_matcher_matches_like_a_regex(pattern: str, text: str, greedy: bool) -> None:
    # _StarMatcher replaces backtracking for patterns with many stars; Python's re
    # (leftmost-first, like Go's regexp) is the reference for what it must find.
    anchored = ShellPattern(pattern, greedy, True)
    m = anchored.regex.match(text)
    assert _StarMatcher(anchored, text).end_from(0) == (None if m is None else m.end())
    unanchored = ShellPattern(pattern, greedy, False)
    matcher = _StarMatcher(unanchored, text)
    for pos in range(len(text) + 1):
        found = unanchored.regex.search(text, pos)
        start = matcher.start_from(pos)
        if found is None:
            assert start is None
        else:
            assert start is not None
            assert (start, matcher.end_from(start)) == found.span()
