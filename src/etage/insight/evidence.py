"""Evidence checks: what a built image holds that it should not, proven from its layers.

A linter guesses from the Dockerfile; these checks read the image: its merged filesystem
(what a container sees), each layer's own files (what anyone who pulls it can extract,
deleted later or not), its config and history. Each finding names the layer and, when
etage built the image here, the Dockerfile line that made that layer, with the bytes.

Findings about a base image's own content (not something the Dockerfile did) are at
most info, except build tools: shipping an SDK image is the Dockerfile's choice.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from etage.checks.buildkit_dispatch import is_secret_name
from etage.checks.model import Finding, Severity
from etage.checks.rules import rule
from etage.insight.image import ImageLayer
from etage.insight.listing import Listing, Merged
from etage.insight.summary import human

MB = 1_000_000
READ_LIMIT = 1 << 20  # config-like files worth reading are small
EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class ImageEvidence:
    """What the checks read: the layers, their listings, the merged filesystem."""

    file: str  # the Dockerfile findings point at (or the image reference)
    layers: tuple[ImageLayer, ...]
    listings: tuple[Listing, ...]
    merged: Merged
    config: dict[str, Any]
    history: tuple[str, ...]  # created_by of every history entry
    context: Path | None = None  # the build context, for dev requirement files
    dockerfile_lines: tuple[str, ...] = ()  # to point at ENV and ARG lines (no layer)

    def line_of(self, keyword: str, name: str) -> int:
        """The last line that sets `name` with ENV or ARG (0 when unknown)."""
        pattern = re.compile(rf"(?i)^\s*{keyword}\s+(?:.*\s)?{re.escape(name)}\b")
        found = [i for i, text in enumerate(self.dockerfile_lines, 1) if pattern.match(text)]
        return found[-1] if found else 0

    def read(self, path: str, layer: int | None = None) -> bytes | None:
        """A file's first bytes, from `layer` or from the layer the image shows it from."""
        if layer is None:
            entry = self.merged.files.get(path)
            if entry is None:
                return None
            layer = entry[0]
        try:
            with open(self.layers[layer].diff_dir / path.lstrip("/"), "rb") as f:
                return f.read(READ_LIMIT)
        except OSError:  # a symlink, or not there
            return None

    def finding(
        self,
        rule_id: str,
        layer: int,
        message: str,
        fix: str,
        *,
        nbytes: int | None = None,
        paths: Iterable[str] = (),
        severity: Severity | None = None,
        line: int = 0,
        what: str | None = None,
    ) -> Finding:
        the_rule = rule(rule_id)
        ly = self.layers[layer]
        level = severity or the_rule.severity
        if self.is_base(layer) and rule_id != "BuildToolsShipped" and level.rank > 0:
            level = Severity.INFO  # the base image's own content: not this Dockerfile's doing
        return Finding(
            the_rule,
            level,
            self.file,
            line or ly.line,
            f"{message} ({what or ly.what})",
            fix,
            stage=ly.stage,
            bytes=nbytes,
            layer=ly.digest,
            paths=tuple(list(paths)[:EXAMPLES]),
        )

    def is_base(self, layer: int) -> bool:
        ly = self.layers[layer]
        return ly.stage is None and ly.instruction.startswith("FROM ")

    def main_layer(self, paths: Iterable[str]) -> int:
        """The layer that brought most of these paths' bytes (the last one on a tie)."""
        weight: Counter[int] = Counter()
        for p in paths:
            index, size = self.merged.files[p]
            weight[index] += size + 1
        return max(weight, key=lambda i: (weight[i], i)) if weight else len(self.layers) - 1


def run_evidence_checks(ev: ImageEvidence) -> list[Finding]:
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(check(ev))
    return sorted(found, key=lambda f: (-f.severity.rank, f.line, -(f.bytes or 0), f.rule.id))


# ---- where applications live ------------------------------------------------------------

_SYSTEM = (
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/share/",
    "/usr/include/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/libexec/",
    "/usr/local/lib/",
    "/usr/local/include/",
    "/usr/local/share/",
    "/usr/local/bin/",
    "/usr/local/go/",
    "/usr/local/cargo/",
    "/usr/local/rustup/",
    "/lib/",
    "/lib64/",
    "/bin/",
    "/sbin/",
    "/etc/",
    "/var/",
    "/proc/",
    "/sys/",
    "/dev/",
    "/opt/java/",
    "/tmp/",
    "/run/",
)
_DEPENDENCY_DIRS = {"node_modules", "site-packages", "dist-packages", "vendor", ".cache"}


def _app_path(path: str) -> bool:
    """Outside the OS and dependency trees: where the Dockerfile put the application."""
    if path.startswith(_SYSTEM) or "/pkg/mod/" in path:
        return False
    return not any(part in _DEPENDENCY_DIRS for part in path.split("/"))


# ---- Node dev dependencies --------------------------------------------------------------


def _node_package_key(rel: str) -> str | None:
    """'node_modules/a/node_modules/@s/b/lib/x.js' -> 'node_modules/a/node_modules/@s/b'."""
    head, sep, tail = rel.rpartition("node_modules/")
    if not sep:
        return None
    parts = tail.split("/")
    if parts[0].startswith("@") and len(parts) > 2:
        return f"{head}node_modules/{parts[0]}/{parts[1]}"
    if len(parts) > 1 and not parts[0].startswith("."):
        return f"{head}node_modules/{parts[0]}"
    return None


def _node_dev_keys(ev: ImageEvidence, root: str) -> set[str] | None:
    """The package keys ("node_modules/x") npm's lock marks dev-only, for the app at root."""
    for lock in (f"{root}/node_modules/.package-lock.json", f"{root}/package-lock.json"):
        data = ev.read(lock)
        if data is None:
            continue
        try:
            packages = json.loads(data).get("packages") or {}
        except ValueError:
            continue
        return {k for k, v in packages.items() if k and isinstance(v, dict) and v.get("dev")}
    data = ev.read(f"{root}/package.json")
    if data is None:
        return None
    try:
        dev = json.loads(data).get("devDependencies") or {}
    except ValueError:
        return None
    return {f"node_modules/{name}" for name in dev}


def check_node_dev_dependencies(ev: ImageEvidence) -> Iterator[Finding]:
    roots = sorted(
        {
            p.rsplit("/node_modules/", 1)[0]
            for p in ev.merged.files
            if p.endswith("/node_modules/.package-lock.json")
        }
        | {
            p.removesuffix("/package.json")
            for p in ev.merged.files
            if p.endswith("/package.json") and _app_path(p)
        }
    )
    for root in roots:
        if not _app_path(root + "/"):
            continue
        dev = _node_dev_keys(ev, root)
        if not dev:
            continue
        files: list[str] = []
        names: Counter[str] = Counter()
        for path in ev.merged.under(f"{root}/node_modules"):
            key = _node_package_key(path[len(root) + 1 :])
            if key in dev:
                files.append(path)
                names[key.rpartition("node_modules/")[2]] += ev.merged.files[path][1]
        if not files:
            continue
        total = sum(ev.merged.files[p][1] for p in files)
        top = ", ".join(name for name, _ in names.most_common(4))
        layer = ev.main_layer(files)
        yield ev.finding(
            "DevDependenciesShipped",
            layer,
            f"{len(names)} dev dependencies in {root}/node_modules ({top}...): {human(total)}",
            "install production dependencies only where the image is made: `npm ci --omit=dev` "
            "in a prod-deps stage, then `COPY --from=prod-deps /app/node_modules ./node_modules`",
            nbytes=total,
            paths=sorted({f"{root}/{k}" for k in dev if f"{root}/{k}" in ev.merged.dirs})[
                :EXAMPLES
            ],
        )


# ---- Python dev packages ----------------------------------------------------------------

PYTHON_DEV = frozenset(
    [
        "pytest",
        "mypy",
        "black",
        "ruff",
        "coverage",
        "tox",
        "flake8",
        "pylint",
        "isort",
        "pre-commit",
        "hypothesis",
        "nox",
        "bandit",
        "pyflakes",
        "pycodestyle",
        "pydocstyle",
        "autopep8",
        "yapf",
        "pytest-cov",
        "pytest-xdist",
        "pytest-mock",
        "pytest-asyncio",
        "mypy-extensions",
        "ipython",
        "ipdb",
        "pdbpp",
        "debugpy",
        "sphinx",
        "twine",
        "build",
        "setuptools-scm",
        "wheel-inspect",
        "types-requests",
        "types-setuptools",
        "import-linter",
    ]
)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _context_dev_packages(context: Path | None) -> set[str]:
    """Names only in a dev/test requirements file or dev extra/group of the context."""
    if context is None:
        return set()
    names: set[str] = set()
    for rel in (
        "requirements-dev.txt",
        "dev-requirements.txt",
        "requirements_dev.txt",
        "requirements-test.txt",
        "test-requirements.txt",
        "requirements/dev.txt",
        "requirements/test.txt",
    ):
        try:
            text = (context / rel).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
            if m and not line.lstrip().startswith(("-", "#")):
                names.add(_normalize(m.group(1)))
    try:
        import tomllib

        doc = tomllib.loads((context / "pyproject.toml").read_text())
    except (OSError, ValueError):
        return names
    groups = dict((doc.get("project") or {}).get("optional-dependencies") or {})
    groups.update(doc.get("dependency-groups") or {})
    for group, reqs in groups.items():
        if group.lower() in {"dev", "test", "tests", "lint", "typing", "docs"}:
            for req in reqs:
                m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(req))
                if m:
                    names.add(_normalize(m.group(1)))
    poetry = ((doc.get("tool") or {}).get("poetry") or {}).get("group") or {}
    for group in ("dev", "test"):
        names.update(_normalize(n) for n in ((poetry.get(group) or {}).get("dependencies") or {}))
    return names


def check_python_dev_packages(ev: ImageEvidence) -> Iterator[Finding]:
    wanted = PYTHON_DEV | _context_dev_packages(ev.context)
    by_site: dict[str, list[tuple[str, list[str]]]] = {}
    for path in ev.merged.files:
        if not path.endswith(".dist-info/RECORD"):
            continue
        site, _, dist = path[: -len("/RECORD")].rpartition("/")
        name = _normalize(dist.removesuffix(".dist-info").rsplit("-", 1)[0])
        if name not in wanted and not name.startswith(("pytest-", "types-", "flake8-")):
            continue
        record = ev.read(path)
        files = []
        for line in (record or b"").decode(errors="replace").splitlines():
            rel = line.split(",", 1)[0]
            full = str(PurePosixPath(site) / rel)
            if ".." in rel:
                full = str(PurePosixPath(*_resolve(PurePosixPath(site) / rel).parts))
            if full in ev.merged.files:
                files.append(full)
        by_site.setdefault(site, []).append((name, files))
    for site, dists in sorted(by_site.items()):
        files = [f for _, fs in dists for f in fs]
        total = sum(ev.merged.files[f][1] for f in files)
        names = ", ".join(sorted(n for n, _ in dists))
        yield ev.finding(
            "PythonDevPackagesShipped",
            ev.main_layer(files),
            f"{len(dists)} dev/test packages in {site} ({names}): {human(total)}",
            "install only the runtime requirements in the stage that ships (e.g. `pip install "
            "--no-cache-dir .` without the dev extra), or build a wheel in a builder stage",
            nbytes=total,
            paths=[f"{site}/{n}" for n, _ in dists],
        )


def _resolve(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if len(parts) > 1:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


# ---- compilers and build tools ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    markers: tuple[str, ...]  # regexes: a file that proves the tool is installed
    trees: tuple[str, ...]  # regexes of directories (and files) that make up its size


TOOLS = (
    Tool(
        "gcc (C compiler)",
        (r"/usr/lib/gcc/[^/]+/[^/]+/cc1", r"/usr/bin/gcc(-\d+)?"),
        (r"/usr/lib/gcc", r"/usr/libexec/gcc", r"/usr/bin/[\w-]*gcc[\w.-]*", r"/usr/bin/cpp-\d+"),
    ),
    Tool(
        "g++ (C++ compiler)",
        (r"/usr/lib/gcc/[^/]+/[^/]+/cc1plus", r"/usr/bin/g\+\+(-\d+)?"),
        (r"/usr/include/c\+\+", r"/usr/bin/[\w-]*g\+\+[\w.-]*"),
    ),
    Tool("make", (r"/usr/bin/make",), (r"/usr/bin/make",)),
    Tool(
        "go",
        (r"/usr/local/go/bin/go", r"/usr/lib/go-[\d.]+/bin/go"),
        (r"/usr/local/go", r"/usr/lib/go-[\d.]+"),
    ),
    Tool(
        "rustc/cargo",
        (r"/usr/local/cargo/bin/cargo", r"/root/\.cargo/bin/cargo", r"/usr/bin/rustc"),
        (r"/usr/local/rustup", r"/usr/local/cargo", r"/root/\.rustup", r"/root/\.cargo"),
    ),
    Tool(
        "javac (JDK)",
        (r"/usr/lib/jvm/[^/]+/bin/javac", r"/opt/java/openjdk/bin/javac"),
        (r"/usr/lib/jvm/[^/]+", r"/opt/java/openjdk"),
    ),
    Tool(
        "maven",
        (r"/usr/share/maven/bin/mvn", r"/usr/bin/mvn"),
        (r"/usr/share/maven", r"/root/\.m2"),
    ),
    Tool(
        "gradle",
        (r"/opt/gradle/[^/]+/bin/gradle", r"/usr/bin/gradle"),
        (r"/opt/gradle", r"/root/\.gradle"),
    ),
    Tool(
        "git", (r"/usr/bin/git",), (r"/usr/bin/git", r"/usr/lib/git-core", r"/usr/share/git-core")
    ),
)


def check_build_tools(ev: ImageEvidence) -> Iterator[Finding]:
    dev_typescript = _dev_typescript(ev)
    markers = [re.compile("(?:" + "|".join(t.markers) + ")$") for t in TOOLS]
    any_marker = re.compile("|".join(f"(?:{m.pattern})" for m in markers))
    candidates = sorted(p for p in ev.merged.files if any_marker.match(p))  # one pass
    for tool, marker in zip(TOOLS, markers, strict=True):
        hit = next((p for p in candidates if marker.match(p)), None)
        if hit is None:
            continue
        trees = re.compile("(?:" + "|".join(tool.trees) + ")(?:/|$)")
        files = [p for p in ev.merged.files if trees.match(p)] or [hit]
        total = sum(ev.merged.files[p][1] for p in files)
        layer = ev.merged.files[hit][0]
        yield ev.finding(
            "BuildToolsShipped",
            layer,
            f"{tool.name} is in the image ({hit}): {human(total)}",
            _tools_fix(ev, layer),
            nbytes=total,
            paths=[hit],
        )
    for root in sorted(_app_typescript(ev) - dev_typescript):
        files = ev.merged.under(root)
        total = sum(ev.merged.files[p][1] for p in files)
        yield ev.finding(
            "BuildToolsShipped",
            ev.main_layer(files),
            f"the TypeScript compiler is in the image ({root}): {human(total)}",
            "compile in a builder stage and ship dist/ only; keep typescript in devDependencies",
            nbytes=total,
            paths=[root],
        )


def _tools_fix(ev: ImageEvidence, layer: int) -> str:
    if ev.is_base(layer):
        return (
            "the final stage's base image is a full SDK image: build in a builder stage and "
            "start the final stage FROM a slim or runtime image (e.g. node:18-slim)"
        )
    return "install build tools in a builder stage only, and copy just the built output"


def _app_typescript(ev: ImageEvidence) -> set[str]:
    return {
        p.removesuffix("/bin/tsc")
        for p in ev.merged.files
        if p.endswith("/node_modules/typescript/bin/tsc") and not p.startswith("/usr/local/lib/")
    }


def _dev_typescript(ev: ImageEvidence) -> set[str]:
    """The apps' typescript packages that npm's lock marks dev (DevDependenciesShipped's)."""
    return {
        root
        for root in _app_typescript(ev)
        if "node_modules/typescript"
        in (_node_dev_keys(ev, root.rsplit("/node_modules/", 1)[0]) or set())
    }


# ---- sources, tests, .git, dev configuration --------------------------------------------

_TEST_FILE = re.compile(r".*(\.(test|spec)\.[cm]?[jt]sx?|_test\.go|/test_[^/]+\.py|_test\.py)$")
_TEST_DIRS = {"test", "tests", "__tests__", "spec", "e2e"}
_DEV_CONFIG = re.compile(
    r".*/(\.vscode|\.idea|\.github|\.circleci|\.gitlab-ci\.yml|\.travis\.yml|\.editorconfig"
    r"|\.eslintrc[^/]*|eslint\.config\.[cm]?js|\.prettierrc[^/]*|jest\.config\.[^/]+"
    r"|Dockerfile[^/]*|[^/]*\.Dockerfile|docker-compose[^/]*\.ya?ml|compose\.ya?ml|\.dockerignore"
    r"|\.gitignore|\.nvmrc|tsconfig[^/]*\.json|\.env\.example)(/|$)"
)


def check_sources(ev: ImageEvidence) -> Iterator[Finding]:
    files = [p for p in ev.merged.files if _app_path(p)]
    # TypeScript beside its JavaScript: a tree with src/**/*.ts and compiled *.js
    ts = [p for p in files if p.endswith((".ts", ".tsx")) and not p.endswith(".d.ts")]
    by_root: dict[str, list[str]] = {}
    for p in ts:
        root = p.split("/src/", 1)[0] if "/src/" in p else str(PurePosixPath(p).parent)
        by_root.setdefault(root, []).append(p)
    for root, sources in sorted(by_root.items()):
        compiled = [p for p in files if p.startswith(root + "/") and p.endswith(".js")]
        if not compiled:
            continue
        total = sum(ev.merged.files[p][1] for p in sources)
        yield ev.finding(
            "SourcesShipped",
            ev.main_layer(sources),
            f"{len(sources)} TypeScript sources ship beside their compiled JavaScript in"
            f" {root}: {human(total)}",
            "copy only the compiled output into the final stage"
            " (e.g. COPY --from=builder /app/dist ./dist)",
            nbytes=total,
            paths=sorted(sources),
        )
    for ext, language in (
        (".go", "Go"),
        (".rs", "Rust"),
        (".java", "Java"),
        (".c", "C"),
        (".cpp", "C++"),
    ):
        sources = [p for p in files if p.endswith(ext) and not _TEST_FILE.match(p)]
        if len(sources) < 2:
            continue
        total = sum(ev.merged.files[p][1] for p in sources)
        yield ev.finding(
            "SourcesShipped",
            ev.main_layer(sources),
            f"{len(sources)} {language} source files are in the image: {human(total)}",
            "build in a builder stage and copy only the binary or package it produces",
            nbytes=total,
            paths=sorted(sources),
        )
    tests = [
        p
        for p in files
        if _TEST_FILE.match(p) or any(part in _TEST_DIRS for part in p.split("/")[:-1])
    ]
    if tests:
        total = sum(ev.merged.files[p][1] for p in tests)
        yield ev.finding(
            "TestsShipped",
            ev.main_layer(tests),
            f"{_count(len(tests), 'test file')} in the image: {human(total)}",
            "run tests in a test stage (FROM builder AS test) and leave them out of the final "
            "stage (copy only the build output; list test directories in .dockerignore"
            " if COPY . is needed)",
            nbytes=total,
            paths=sorted(tests),
        )
    gits = sorted({d for d in ev.merged.dirs if d.endswith("/.git") and not d.startswith(_SYSTEM)})
    for git in gits:
        inside = ev.merged.under(git)
        total = sum(ev.merged.files[p][1] for p in inside)
        yield ev.finding(
            "VcsDirectoryShipped",
            ev.main_layer(inside) if inside else ev.merged.dirs[git],
            f"{git} is in the image: {human(total)}",
            "add .git to .dockerignore, and copy only what the program needs",
            nbytes=total,
            paths=[git],
        )
    config = sorted({m.group(0).rstrip("/") for p in files if (m := _DEV_CONFIG.match(p))})
    if config:
        members = [p for p in files if any(p == c or p.startswith(c + "/") for c in config)]
        total = sum(ev.merged.files[p][1] for p in members)
        yield ev.finding(
            "DevConfigShipped",
            ev.main_layer(members),
            f"{len(config)} editor, CI or build configuration files are in the image:"
            f" {human(total)}",
            "list them in .dockerignore, or copy only the build output into the final stage",
            nbytes=total,
            paths=config,
        )


# ---- package manager caches -------------------------------------------------------------

CACHES = (
    (
        "npm cache",
        r"(/root|/home/[^/]+)/\.npm/_cacache",
        "`RUN --mount=type=cache,target=/root/.npm npm ci`,"
        " or `npm cache clean --force` in the same RUN",
    ),
    (
        "yarn cache",
        r"((/root|/home/[^/]+)/\.cache/yarn|/usr/local/share/\.cache/yarn)",
        "`RUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install`,"
        " or `yarn cache clean` in the same RUN",
    ),
    (
        "pip cache",
        r"(/root|/home/[^/]+)/\.cache/pip",
        "`pip install --no-cache-dir`, or `RUN --mount=type=cache,target=/root/.cache/pip`",
    ),
    (
        "apt package lists",
        r"/var/lib/apt/lists",
        "`rm -rf /var/lib/apt/lists/*` in the RUN that ran apt-get update,"
        " or a cache mount on /var/lib/apt/lists",
    ),
    (
        "apt archives",
        r"/var/cache/apt",
        "`apt-get clean` in the same RUN, or a cache mount on /var/cache/apt",
    ),
    (
        "Go build cache",
        r"(/root|/home/[^/]+)/\.cache/go-build",
        "`RUN --mount=type=cache,target=/root/.cache/go-build go build ...`",
    ),
    (
        "Go module cache",
        r"/go/pkg/mod",
        "build in a builder stage; `RUN --mount=type=cache,target=/go/pkg/mod`",
    ),
    (
        "Maven repository",
        r"(/root|/home/[^/]+)/\.m2/repository",
        "build in a builder stage with `--mount=type=cache,target=/root/.m2`",
    ),
    (
        "Gradle cache",
        r"(/root|/home/[^/]+)/\.gradle/caches",
        "build in a builder stage with `--mount=type=cache,target=/root/.gradle`",
    ),
    (
        "pnpm store",
        r"((/root|/home/[^/]+)/\.local/share/pnpm/store|[^/]*/\.pnpm-store)",
        "`RUN --mount=type=cache,id=pnpm,target=/root/.local/share/pnpm/store pnpm install`",
    ),
)
_NOT_CACHE = re.compile(
    r"/var/lib/apt/lists/(lock|partial)$|/var/cache/apt/archives/(lock|partial)$"
)


def check_caches(ev: ImageEvidence) -> Iterator[Finding]:
    trees = [re.compile(f"(?:{pattern})/") for _, pattern, _ in CACHES]
    any_tree = re.compile("|".join(f"(?:{t.pattern})" for t in trees))
    candidates = [
        p
        for p, (_, size) in ev.merged.files.items()
        if size and any_tree.match(p) and not _NOT_CACHE.match(p)
    ]  # one pass over the image
    for (name, pattern, fix), tree in zip(CACHES, trees, strict=True):
        files = [p for p in candidates if tree.match(p)]
        if not files:
            continue
        total = sum(ev.merged.files[p][1] for p in files)
        root = re.match(f"(?:{pattern})", files[0])
        yield ev.finding(
            "PackageCacheShipped",
            ev.main_layer(files),
            f"the {name} is in the image ({root.group(0) if root else files[0]}): {human(total)}",
            fix,
            nbytes=total,
            paths=sorted(files),
        )


# ---- secrets ----------------------------------------------------------------------------

_PRIVATE_KEY = re.compile(rb"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----")
_TOKEN_LINE = re.compile(
    rb"(?im)^\s*[^#\s]*(_authtoken|_auth|_password|password|token)\s*[=:]\s*(?!\$\{)\S+"
)
_ENV_LINE = re.compile(rb"(?m)^\s*(export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*\S")


def _secret_kind(path: str, data: bytes) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if name == ".env" or (
        name.startswith(".env.")
        and not name.endswith((".example", ".sample", ".template", ".dist"))
    ):
        return "an environment file with values" if _ENV_LINE.search(data) else None
    if name in ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519") or name.endswith((".pem", ".key")):
        return "a private key" if _PRIVATE_KEY.search(data) else None
    if name in (".npmrc", ".pypirc", ".netrc", ".git-credentials"):
        return (
            f"a {name} with credentials"
            if _TOKEN_LINE.search(data) or name == ".git-credentials"
            else None
        )
    if path.endswith("/.aws/credentials"):
        return "AWS credentials" if b"aws_secret_access_key" in data else None
    if path.endswith("/.docker/config.json"):
        return "registry credentials" if b'"auth"' in data else None
    return None


_SECRET_NAME = re.compile(
    r".*/(\.env(\.[^/]+)?|id_(rsa|dsa|ecdsa|ed25519)|[^/]+\.(pem|key)|\.npmrc|\.pypirc|\.netrc"
    r"|\.git-credentials|\.aws/credentials|\.docker/config\.json)$"
)


def check_secret_files(ev: ImageEvidence) -> Iterator[Finding]:
    for index, listing in enumerate(ev.listings):
        for path, size in sorted(listing.files.items()):
            if not _SECRET_NAME.match(path) or path.startswith(
                ("/usr/share/", "/usr/lib/", "/etc/ssl/certs/")
            ):
                continue
            data = ev.read(path, index)
            kind = _secret_kind(path, data or b"")
            if kind is None:
                continue
            shown = ev.merged.files.get(path)
            gone = (
                ""
                if shown is not None and shown[0] == index
                else ("; a later layer deletes or replaces it, but this layer still holds it")
            )
            yield ev.finding(
                "SecretInLayer",
                index,
                f"{path} is {kind}{gone}",
                "never COPY or create secrets in a layer: use `RUN --mount=type=secret,id=...` "
                "(and `--secret id=...,src=...`), and list the file in .dockerignore",
                nbytes=size,
                paths=[path],
                severity=Severity.ERROR,
            )


_KEY_VALUE = re.compile(r"(?:^|\s|\|\d+\s)([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S*)")


def check_secret_config(ev: ImageEvidence) -> Iterator[Finding]:
    last = len(ev.layers) - 1
    for item in ev.config.get("Env") or []:
        key, _, value = str(item).partition("=")
        if is_secret_name(key) and value:
            yield ev.finding(
                "SecretInConfig",
                last,
                f"ENV {key} holds a value in the image config",
                "pass secrets at run time (environment, mounted files) or at build time with "
                "RUN --mount=type=secret; never ENV",
                paths=[f"config.Env.{key}"],
                severity=Severity.ERROR,
                line=ev.line_of("ENV", key),
                what="image config",
            )
    seen: set[str] = set()
    for entry in ev.history:
        # Only RUN entries list the build args they saw: "RUN |2 A=1 B=2 /bin/sh -c ..."
        text = entry.removeprefix("RUN ")
        if not text.startswith("|"):
            continue
        for m in _KEY_VALUE.finditer(text.split(" /bin/sh -c ", 1)[0]):
            key, value = m.group(1), m.group(2).strip("\"'")
            if is_secret_name(key) and value and key not in seen:
                seen.add(key)
                yield ev.finding(
                    "SecretInConfig",
                    last,
                    f"build arg {key} has a value in the image history",
                    "use `RUN --mount=type=secret,id=...` and `--secret` instead of a build arg",
                    paths=[f"history: {key}=..."],
                    severity=Severity.ERROR,
                    line=ev.line_of("ARG", key),
                    what="image history",
                )


# ---- wasted bytes and oversized copies --------------------------------------------------


def check_wasted(ev: ImageEvidence) -> Iterator[Finding]:
    for (added, removed), total in sorted(ev.merged.wasted.items()):
        if total < 100_000 or (ev.is_base(added) and ev.is_base(removed)):
            continue
        paths = sorted(
            ev.merged.wasted_paths[(added, removed)], key=lambda p: -_size_in(ev, added, p)
        )
        by = ev.layers[removed]
        yield ev.finding(
            "WastedBytes",
            added,
            f"{human(total)} added here are deleted or overwritten later by {by.what}"
            + (f" (line {by.line})" if by.line else ""),
            "create and delete temporary files in the same RUN (or use a cache or tmpfs "
            "mount), and do not copy files a later step replaces",
            nbytes=total,
            paths=paths,
            severity=Severity.WARNING if total >= MB else Severity.INFO,
        )


def _count(n: int, noun: str) -> str:
    return f"1 {noun} is" if n == 1 else f"{n} {noun}s are"


def _size_in(ev: ImageEvidence, layer: int, path: str) -> int:
    return ev.listings[layer].files.get(path, 0)


def check_oversized_copies(ev: ImageEvidence) -> Iterator[Finding]:
    command = [str(c) for c in (ev.config.get("Entrypoint") or []) + (ev.config.get("Cmd") or [])]
    workdir = str(ev.config.get("WorkingDir") or "/")
    entry = next(
        (
            str(PurePosixPath(workdir) / c)
            for c in command
            if "/" in c
            and not c.startswith("-")
            and str(PurePosixPath(workdir) / c) in ev.merged.files
        ),
        None,
    )
    if entry is None:
        return
    for index, layer in enumerate(ev.layers):
        listing = ev.listings[index]
        size = sum(listing.files.values())
        if layer.from_stage is None or size < MB or entry not in listing.files:
            continue
        # the entrypoint's top directory inside the copy, and production node_modules
        base = workdir.rstrip("/") + "/"
        top = (
            base + entry[len(base) :].split("/", 1)[0]
            if entry.startswith(base)
            else str(PurePosixPath(entry).parent)
        )
        dev = _node_dev_keys(ev, workdir.rstrip("/")) or set()
        needed = 0
        for path, n in listing.files.items():
            rel = path[len(base) :] if path.startswith(base) else path
            key = _node_package_key(rel)
            if path.startswith(top + "/") or path == top or (key is not None and key not in dev):
                needed += n
        unused = size - needed
        if unused >= MB and unused >= size // 4:
            yield ev.finding(
                "OversizedCopy",
                index,
                f"this copy brought {human(size)}; the command runs {entry}, for which "
                f"{top}/ and production dependencies ({human(needed)}) are enough:"
                f" {human(unused)} are not needed",
                f"copy only what runs: e.g. COPY --from={layer.from_stage} {top}/"
                f" ./{top[len(base) :]}/ "
                "(and production node_modules from a prod-deps stage)",
                nbytes=unused,
                paths=[top],
            )


CHECKS: tuple[Callable[[ImageEvidence], Iterator[Finding]], ...] = (
    check_node_dev_dependencies,
    check_python_dev_packages,
    check_build_tools,
    check_sources,
    check_caches,
    check_secret_files,
    check_secret_config,
    check_wasted,
    check_oversized_copies,
)
