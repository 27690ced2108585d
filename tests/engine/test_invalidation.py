"""Each input of a build invalidates exactly the steps that read it, and nothing else.

One multi-stage Dockerfile, built once; then one change per case and a rebuild, and the
set of steps that missed the cache must be exactly the expected one. The cases include
the classes of false cache hits other builders shipped: key parts that concatenate
ambiguously, directory checksums that ignore names, .dockerignore patterns, build args
reaching a sibling stage, and a `COPY --from` served stale or needlessly rebuilt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.engine.conftest import BASE, Builder, cached

DOCKERFILE = f"""\
FROM {BASE} AS deps
ARG DEPS_VERSION=1
COPY deps/ /deps/
RUN cat /deps/* > /deps.txt && echo "$DEPS_VERSION" >> /deps.txt

FROM {BASE} AS builder
ARG MODE=release
WORKDIR /src
COPY src/ ./
RUN --mount=type=bind,source=tools,target=/tools cat /tools/t.sh > /src/tool.txt && \\
    echo "$MODE" > /src/mode.txt
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /src/secret-length
COPY --from=deps /deps.txt ./

FROM {BASE}
ENV APP=1
COPY --from=builder /src/mode.txt /app/
COPY config.txt /app/
"""

FILES = {
    "deps/a": "a\n",
    "deps/b": "b\n",
    "src/main.c": "int main;\n",
    "src/lib/util.c": "util\n",
    "tools/t.sh": "echo tool\n",
    "config.txt": "port=1\n",
    "unrelated.md": "docs\n",
}

DEPS_COPY = "[deps] COPY deps/ /deps/"
DEPS_RUN = '[deps] RUN cat /deps/* > /deps.txt && echo "$DEPS_VERSION" >> /deps.txt'
SRC_COPY = "[builder] COPY src/ ./"
BIND_RUN = (
    "[builder] RUN --mount=type=bind,source=tools,target=/tools cat /tools/t.sh > /src/tool.txt"
    ' &&     echo "$MODE" > /src/mode.txt'
)
SECRET_RUN = (
    "[builder] RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /src/secret-length"
)
FROM_DEPS = "[builder] COPY --from=deps /deps.txt ./"
FROM_BUILDER = "[2] COPY --from=builder /src/mode.txt /app/"
CONFIG_COPY = "[2] COPY config.txt /app/"
BUILDER_AFTER_SRC = {SRC_COPY, BIND_RUN, SECRET_RUN, FROM_DEPS}


@dataclass
class Case:
    change: Callable[[Path], None] = lambda ctx: None
    build_args: dict[str, str] = field(default_factory=dict)
    dockerfile: Callable[[str], str] = lambda text: text
    secret: bytes = b"token-1"
    misses: set[str] = field(default_factory=set)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def shift_names(ctx: Path) -> None:
    (ctx / "deps/a").unlink()
    (ctx / "deps/b").unlink()
    write(ctx / "deps/aa", "\nbb\n")


CASES = {
    "nothing": Case(),
    "a file of a copied directory": Case(
        lambda c: write(c / "deps/a", "A\n"),
        # deps.txt changed, so the builder's COPY --from=deps misses; the final stage's
        # COPY --from=builder copies mode.txt, unchanged: it hits
        misses={DEPS_COPY, DEPS_RUN, FROM_DEPS},
    ),
    "a file in a subdirectory": Case(
        lambda c: write(c / "src/lib/util.c", "util2\n"), misses=BUILDER_AFTER_SRC
    ),
    "a new file": Case(lambda c: write(c / "src/new.c", "new\n"), misses=BUILDER_AFTER_SRC),
    "a removed file": Case(lambda c: (c / "src/lib/util.c").unlink(), misses=BUILDER_AFTER_SRC),
    "a rename, same content": Case(
        lambda c: (c / "src/main.c").rename(c / "src/main2.c"), misses=BUILDER_AFTER_SRC
    ),
    # {a: "a\n", b: "b\n"} and {aa: "\nbb\n"} concatenate to the same bytes
    "names and contents shifted": Case(shift_names, misses={DEPS_COPY, DEPS_RUN, FROM_DEPS}),
    "a file made a symlink whose target is the file's bytes": Case(
        lambda c: ((c / "src/main.c").unlink(), os.symlink("int main;\n", c / "src/main.c")),
        misses=BUILDER_AFTER_SRC,
    ),
    "a mode": Case(lambda c: (c / "config.txt").chmod(0o600), misses={CONFIG_COPY}),
    "an mtime only": Case(lambda c: os.utime(c / "src/main.c", (1, 1))),
    "a file no step reads": Case(lambda c: write(c / "unrelated.md", "other\n")),
    "a bind mount's source": Case(
        lambda c: write(c / "tools/t.sh", "echo tool2\n"), misses={BIND_RUN, SECRET_RUN, FROM_DEPS}
    ),
    "a secret's content (never part of a key, as in BuildKit)": Case(secret=b"token-22"),
    "a build arg one stage uses": Case(
        build_args={"MODE": "debug"},
        # every RUN after the ARG sees it; mode.txt changes, so the final stage rebuilds
        misses={BIND_RUN, SECRET_RUN, FROM_DEPS, FROM_BUILDER, CONFIG_COPY},
    ),
    "a build arg of the sibling stage": Case(
        build_args={"DEPS_VERSION": "2"}, misses={DEPS_RUN, FROM_DEPS}
    ),
    "a build arg no stage declares": Case(build_args={"OTHER": "x"}),
    "an ENV that no RUN follows": Case(dockerfile=lambda t: t.replace("ENV APP=1", "ENV APP=2")),
    ".dockerignore excluding a copied file": Case(
        lambda c: write(c / ".dockerignore", "src/lib\n"), misses=BUILDER_AFTER_SRC
    ),
    ".dockerignore matching nothing copied": Case(
        lambda c: write(c / ".dockerignore", "*.md\nnothing/\n")
    ),
    ".dockerignore pattern pointing outside the context": Case(
        lambda c: write(c / ".dockerignore", "../ctx/src\n/../src/lib\n"),
        misses={SRC_COPY, BIND_RUN, SECRET_RUN, FROM_DEPS},  # "/../src/lib" is src/lib
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_change_invalidates_exactly_the_steps_that_read_it(
    builder: Builder, tmp_path: Path, name: str
) -> None:
    case = CASES[name]
    builder.write(FILES)
    secret = tmp_path / "secret"
    secret.write_bytes(b"token-1")
    first = builder.build(DOCKERFILE, secrets=[f"id=tok,src={secret}"])
    assert not any(cached(first).values())

    case.change(builder.context)
    secret.write_bytes(case.secret)
    second = builder.build(
        case.dockerfile(DOCKERFILE), build_args=case.build_args, secrets=[f"id=tok,src={secret}"]
    )
    missed = {step for step, hit in cached(second).items() if not hit}
    assert missed == case.misses


def test_build_args_that_concatenate_alike_are_different_keys(
    builder: Builder, tmp_path: Path
) -> None:
    dockerfile = f'FROM {BASE}\nARG A\nARG B\nRUN echo "[$A][$B]" > /out\n'
    builder.write({})
    out1, out2 = tmp_path / "one", tmp_path / "two"
    builder.build(dockerfile, build_args={"A": "1 B=2"}, outputs=[f"type=local,dest={out1}"])
    second = builder.build(
        dockerfile, build_args={"A": "1", "B": "2"}, outputs=[f"type=local,dest={out2}"]
    )
    assert not any(cached(second).values())
    assert (out1 / "out").read_text() == "[1 B=2][]\n"
    assert (out2 / "out").read_text() == "[1][2]\n"
