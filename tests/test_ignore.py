"""Docker's .dockerignore semantics (etage.dockerfile.ignore)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etage.dockerfile.ignore import DockerIgnore, IgnorePattern, go_clean, go_trim_space
from etage.errors import ContextError

VECTORS = Path(__file__).parent / "vectors" / "dockerignore.tsv"


class Vector(NamedTuple):
    line: int
    patterns: str
    path: str
    expected: str
    note: str


def load_vectors() -> list[Vector]:
    vectors = []
    for number, raw in enumerate(VECTORS.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw or raw.startswith("#"):
            continue
        fields = raw.split("\t")
        assert len(fields) in (3, 4), f"{VECTORS.name}:{number}: bad row {raw!r}"
        note = fields[3] if len(fields) == 4 else ""
        vectors.append(Vector(number, fields[0].replace("⏎", "\n"), fields[1], fields[2], note))
    return vectors


@pytest.mark.parametrize(
    "vector", load_vectors(), ids=lambda v: f"L{v.line}:{v.patterns!r}:{v.path!r}"
)
def test_vector(vector: Vector) -> None:
    if vector.expected.startswith("error:"):
        line = int(vector.expected.split(":")[1])
        with pytest.raises(ContextError) as info:
            DockerIgnore.parse(vector.patterns).is_excluded(vector.path)
        assert info.value.location is not None
        assert info.value.location.file == ".dockerignore"
        assert info.value.location.line == line
        assert info.value.hint
        return
    assert vector.expected in ("excluded", "included"), vector
    ignore = DockerIgnore.parse(vector.patterns)
    assert ignore.is_excluded(vector.path) is (vector.expected == "excluded"), vector.note


def test_vectors_cover_the_rules() -> None:
    vectors = load_vectors()
    assert len(vectors) >= 100
    assert {v.expected.split(":")[0] for v in vectors} == {"excluded", "included", "error"}


# -- reading the file ------------------------------------------------------------------


def test_parse_keeps_cleaned_text_exception_flag_and_line() -> None:
    text = "# comment\n\n  /node_modules/  \n!  ./keep/me/ \n  # not a comment\n"
    ignore = DockerIgnore.parse(text, source="app.Dockerfile.dockerignore")
    assert ignore.source == "app.Dockerfile.dockerignore"
    assert ignore.patterns == (
        IgnorePattern("node_modules", False, 3),
        IgnorePattern("keep/me", True, 4),
        IgnorePattern("# not a comment", False, 5),
    )


def test_crlf_bom_and_missing_final_newline() -> None:
    ignore = DockerIgnore.parse("\ufeff#comment\r\n*.tmp\r\n!a.tmp")
    assert [str(p) for p in ignore.patterns] == ["*.tmp", "!a.tmp"]
    assert [p.line for p in ignore.patterns] == [2, 3]
    assert ignore.is_excluded("b.tmp")
    assert not ignore.is_excluded("a.tmp")


def test_bom_only_stripped_on_first_line() -> None:
    ignore = DockerIgnore.parse("a\n\ufeffb\n")
    assert [p.text for p in ignore.patterns] == ["a", "\ufeffb"]
    assert ignore.is_excluded("\ufeffb")
    assert not ignore.is_excluded("b")


def test_go_whitespace_is_trimmed_python_only_whitespace_is_not() -> None:
    # Go's TrimSpace trims NBSP, NEL, ideographic space... but not U+001F, which
    # Python's str.strip() would remove.
    ignore = DockerIgnore.parse("\u00a0\tfoo\u3000\u0085\n\x1fbar\n")
    assert [p.text for p in ignore.patterns] == ["foo", "\x1fbar"]
    assert go_trim_space("\u2028x\u205f") == "x"


def test_tab_around_pattern_trimmed() -> None:
    assert DockerIgnore.parse("\tfoo\t\n").is_excluded("foo")


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("", "."),
        ("/", "/"),
        ("a/b/", "a/b"),
        ("./a", "a"),
        ("a//b", "a/b"),
        ("a/./b/../c", "a/c"),
        ("../a", "../a"),
        ("/../a", "/a"),
        ("a/..", "."),
        ("!/", "!"),
    ],
)
def test_go_clean(path: str, clean: str) -> None:
    assert go_clean(path) == clean


def test_empty_and_comment_only_files_exclude_nothing() -> None:
    for text in ("", "\n\n", "# only\n#comments\n", "   \n\t\n"):
        ignore = DockerIgnore.parse(text)
        assert ignore.patterns == ()
        assert not ignore.is_excluded("anything")
    assert not DockerIgnore.empty().is_excluded("x")
    assert DockerIgnore.empty().source == ""


# -- errors ----------------------------------------------------------------------------


def test_invalid_pattern_error_names_file_line_pattern_and_hint() -> None:
    text = "node_modules\n# comment\n\nsrc/[abc\n"
    with pytest.raises(ContextError) as info:
        DockerIgnore.parse(text, source="build.Dockerfile.dockerignore")
    err = info.value
    assert err.location is not None
    assert (err.location.file, err.location.line) == ("build.Dockerfile.dockerignore", 4)
    assert "'src/[abc'" in err.message
    assert err.source_line == "src/[abc"
    assert err.hint is not None
    assert "]" in err.hint
    assert str(err).startswith("build.Dockerfile.dockerignore:4: ")
    assert err.exit_status == 2


def test_trailing_backslash_hint() -> None:
    with pytest.raises(ContextError) as info:
        DockerIgnore.parse("ok\nfoo\\\n")
    assert info.value.location is not None
    assert info.value.location.line == 2
    assert info.value.hint is not None
    assert "backslash" in info.value.hint


def test_lone_exclamation_mark() -> None:
    with pytest.raises(ContextError, match="illegal exclusion pattern") as info:
        DockerIgnore.parse("a\n!   \n")
    assert info.value.location is not None
    assert info.value.location.line == 2


def test_first_invalid_pattern_in_file_order_is_reported() -> None:
    with pytest.raises(ContextError) as info:
        DockerIgnore.parse("[\n!\n")
    assert info.value.location is not None
    assert info.value.location.line == 1


def test_regexp_only_error_is_raised_when_the_pattern_is_used() -> None:
    ignore = DockerIgnore.parse("keep\n!x[z-a]\n")  # filepath.Match accepts [z-a]
    assert not ignore.is_excluded("other")  # the exception is never tried
    with pytest.raises(ContextError, match="Go's regexp rejects it") as info:
        ignore.is_excluded("keep")
    assert info.value.location is not None
    assert info.value.location.line == 2


# -- questions -------------------------------------------------------------------------


def test_matching_pattern_explains_the_decision() -> None:
    ignore = DockerIgnore.parse("node_modules\n*.md\n!README.md\n")
    excluded_by = ignore.matching_pattern("node_modules/left-pad/index.js")
    assert excluded_by == IgnorePattern("node_modules", False, 1)
    assert ignore.matching_pattern("README.md") == IgnorePattern("README.md", True, 3)
    assert ignore.matching_pattern("CHANGES.md") == IgnorePattern("*.md", False, 2)
    assert ignore.matching_pattern("src/main.py") is None


def test_paths_may_start_with_dot_slash_or_slash() -> None:
    ignore = DockerIgnore.parse("a/b\n")
    for path in ("a/b", "./a/b", "/a/b", "a/b/", "a//b", "./a/b/c"):
        assert ignore.is_excluded(path), path
    assert not ignore.is_excluded(".")
    assert not ignore.is_excluded("/")
    assert not ignore.is_excluded("")


def test_may_include_below() -> None:
    ignore = DockerIgnore.parse(
        "**/*.md\n!**/README.md\nnode_modules\ndist\n!dist/keep/**\nvendor\n!src/*.go\n"
    )
    # not excluded: of course
    assert ignore.may_include_below("src")
    # no exception that could match below it comes after the pattern that excluded it
    assert not ignore.may_include_below("node_modules")
    assert ignore.is_excluded("node_modules/pkg/README.md")
    # an exception follows, and can match below
    assert ignore.may_include_below("dist")
    assert ignore.may_include_below("dist/keep")
    # an exception follows but is anchored elsewhere
    assert not ignore.may_include_below("vendor")
    # **/README.md comes after **/*.md: a directory named x.md may hold a README.md
    assert ignore.may_include_below("docs/x.md")
    assert not ignore.is_excluded("docs/x.md/README.md")
    # ...and when the exception comes after node_modules, it reaches into it
    late = DockerIgnore.parse("node_modules\n**/*.md\n!**/README.md\n")
    assert late.may_include_below("node_modules")
    assert not late.is_excluded("node_modules/pkg/README.md")


def test_may_include_below_respects_depth_of_wildcard_patterns() -> None:
    ignore = DockerIgnore.parse("*\n!*/*.txt\n")
    assert ignore.may_include_below("a")  # a/b.txt may be re-included
    # "*/*.txt" matches paths of exactly two components: nothing below a/b.
    assert not ignore.may_include_below("a/b")
    assert not ignore.is_excluded("a/b.txt")
    assert ignore.is_excluded("a/b/c.txt")


def test_equality_and_repr() -> None:
    a = DockerIgnore.parse("x\n!y\n")
    b = DockerIgnore.parse("x\n!y\n")
    assert a == b
    assert hash(a) == hash(b)
    assert a != DockerIgnore.parse("x\n")
    assert "IgnorePattern" in repr(a)
    assert bool(a)
    assert not DockerIgnore.empty()
    assert a.has_exceptions
    assert str(IgnorePattern("y", True, 2)) == "!y"


# -- properties ------------------------------------------------------------------------

COMPONENTS = st.sampled_from(["a", "b", "ab", "x.md", "README.md", "node_modules", ".git"])
PATH = st.lists(COMPONENTS, min_size=1, max_size=4).map("/".join)
PATTERN_PART = st.sampled_from(
    ["a", "b", "ab", "*", "?", "**", "*.md", "README*", "[ab]", "[^a]*", "node_modules", ".git"]
)
PATTERN = st.tuples(
    st.sampled_from(["", "!", "/", "./"]),
    st.lists(PATTERN_PART, min_size=1, max_size=3).map("/".join),
).map("".join)


@settings(max_examples=300, deadline=None)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=5), path=PATH)
def test_matching_pattern_agrees_with_is_excluded(patterns: list[str], path: str) -> None:
    ignore = DockerIgnore.parse("\n".join(patterns))
    decided = ignore.matching_pattern(path)
    excluded = ignore.is_excluded(path)
    if decided is None:
        assert not excluded
    else:
        assert excluded is not decided.exclusion


@settings(max_examples=300, deadline=None)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=5), path=PATH)
def test_excluded_directory_without_hope_excludes_all_below(patterns: list[str], path: str) -> None:
    ignore = DockerIgnore.parse("\n".join(patterns))
    parent = path.rpartition("/")[0]
    if parent and ignore.is_excluded(parent) and not ignore.may_include_below(parent):
        assert ignore.is_excluded(path)


@settings(max_examples=200, deadline=None)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=5), path=PATH)
def test_decision_does_not_depend_on_cache_state(patterns: list[str], path: str) -> None:
    text = "\n".join(patterns)
    warm = DockerIgnore.parse(text)
    parts = path.split("/")
    for i in range(1, len(parts)):
        warm.is_excluded("/".join(parts[:i]))
    assert warm.is_excluded(path) is DockerIgnore.parse(text).is_excluded(path)
