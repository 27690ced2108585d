"""What package managers and build tools do, as far as the multi-stage rules need it.

Each function looks at one simple command (see shellwords.py) and says whether it
installs dependencies (and whether dev dependencies are included), installs build
tools, removes packages, or builds the project.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from etage.checks.shellwords import SimpleCommand


@dataclass(frozen=True, slots=True)
class Install:
    ecosystem: str  # "node", "python", "php", "ruby"
    tree: str  # the dependency tree it fills: "node_modules", "site-packages", "vendor"...
    dev: bool  # dev/test dependencies included
    fix: str | None  # the production-only form of the command


def _is(cmd: SimpleCommand, *programs: str) -> bool:
    return cmd.program in programs


def _node_production(cmd: SimpleCommand, env: Mapping[str, str]) -> bool:
    node_env = dict(cmd.assignments).get("NODE_ENV", env.get("NODE_ENV", ""))
    return (
        node_env == "production"
        or dict(cmd.assignments).get("NPM_CONFIG_PRODUCTION", env.get("NPM_CONFIG_PRODUCTION", ""))
        == "true"
    )


_NPM_PROD_FLAGS = ("--production", "--prod", "--omit=dev", "--only=prod", "--only=production")


def node_install(cmd: SimpleCommand, env: Mapping[str, str]) -> Install | None:
    words = cmd.words
    if (
        _is(cmd, "npm")
        and len(words) > 1
        and words[1] in ("ci", "install", "i", "add", "clean-install", "isntall")
    ):
        if cmd.has("-g", "--global") or (words[1] != "ci" and cmd.positional(2)):
            return None  # global tools or named packages: not the project's dependencies
        dev = not (
            any(w in _NPM_PROD_FLAGS or w.startswith("--omit=dev") for w in words)
            or cmd.value_of("--omit") == "dev"
            or cmd.value_of("--only") in ("prod", "production")
            or _node_production(cmd, env)
        )
        fix = f"npm {words[1]} --omit=dev" if dev else None
        return Install("node", "node_modules", dev, fix)
    if _is(cmd, "yarn") and (len(words) == 1 or words[1] == "install" or words[1].startswith("--")):
        dev = not (cmd.has("--production", "--prod") or _node_production(cmd, env))
        return Install(
            "node",
            "node_modules",
            dev,
            "yarn install --production --frozen-lockfile" if dev else None,
        )
    if _is(cmd, "yarn") and words[1:3] == ("workspaces", "focus"):
        return Install(
            "node",
            "node_modules",
            not cmd.has("--production"),
            "yarn workspaces focus --all --production",
        )
    if _is(cmd, "pnpm") and len(words) > 1 and words[1] in ("install", "i"):
        if cmd.has("-g", "--global") or cmd.positional(2):
            return None
        dev = not (cmd.has("--prod", "-P", "--production") or _node_production(cmd, env))
        return Install(
            "node", "node_modules", dev, "pnpm install --prod --frozen-lockfile" if dev else None
        )
    return None


_DEV_REQUIREMENTS = re.compile(
    r"(^|[/_.-])(dev|develop|development|test|tests|testing|lint|ci|docs)([/_.-]|$)", re.I
)
_DEV_EXTRAS = re.compile(r"\[([^\]]*)\]")
DEV_EXTRA_NAMES = frozenset(
    {"dev", "develop", "development", "test", "tests", "testing", "lint", "docs", "all"}
)
PYTHON_DEV_PACKAGES = frozenset({
    "pytest", "pytest-cov", "pytest-xdist", "pytest-mock", "mypy", "black", "ruff", "flake8",
    "pylint", "coverage", "tox", "nox", "isort", "pre-commit", "ipython", "ipdb", "hypothesis",
    "bandit", "autopep8", "yapf", "sphinx", "pyright",
})  # fmt: skip


def python_install(cmd: SimpleCommand, env: Mapping[str, str]) -> Install | None:
    words = cmd.words
    pip_args: list[str] | None = None
    if _is(cmd, "pip", "pip3") and len(words) > 1 and words[1] == "install":
        pip_args = list(words[2:])
    elif cmd.program.startswith("python") and words[1:4] == ("-m", "pip", "install"):
        pip_args = list(words[4:])
    elif _is(cmd, "uv") and words[1:3] == ("pip", "install"):
        pip_args = list(words[3:])
    if pip_args is not None:
        dev = False
        for i, w in enumerate(pip_args):
            req = None
            if w in ("-r", "--requirement") and i + 1 < len(pip_args):
                req = pip_args[i + 1]
            elif w.startswith(("--requirement=", "-r")) and w not in ("-r",):
                req = w.split("=", 1)[1] if "=" in w else w[2:]
            if req and _DEV_REQUIREMENTS.search(req.rsplit("/", 1)[-1].rsplit(".", 1)[0]):
                dev = True
            extras = _DEV_EXTRAS.search(w)
            if extras and DEV_EXTRA_NAMES & {e.strip().lower() for e in extras.group(1).split(",")}:
                dev = True
            name = re.split(r"[<>=!~\[;@ ]", w, maxsplit=1)[0].lower()
            if name in PYTHON_DEV_PACKAGES:
                dev = True
        return Install(
            "python",
            "site-packages",
            dev,
            "pip install --no-cache-dir -r requirements.txt" if dev else None,
        )
    if _is(cmd, "poetry") and len(words) > 1 and words[1] in ("install", "sync"):
        prod = (
            cmd.value_of("--only") == "main"
            or cmd.has("--no-dev", "--only-root")
            or (cmd.value_of("--without") or "") in ("dev", "dev,test", "test,dev")
            or (cmd.has("--without") and "dev" in (cmd.value_of("--without") or ""))
        )
        return Install(
            "python",
            "site-packages",
            not prod,
            "poetry install --only main --no-root" if not prod else None,
        )
    if _is(cmd, "pipenv") and len(words) > 1 and words[1] in ("install", "sync"):
        dev = cmd.has("--dev", "-d")
        return Install(
            "python", "site-packages", dev, f"pipenv {words[1]} --deploy" if dev else None
        )
    if _is(cmd, "uv") and len(words) > 1 and words[1] == "sync":
        prod = cmd.has("--no-dev", "--only-group") or env.get("UV_NO_DEV") == "1"
        return Install(
            "python", "site-packages", not prod, "uv sync --frozen --no-dev" if not prod else None
        )
    return None


def other_install(cmd: SimpleCommand, env: Mapping[str, str]) -> Install | None:
    words = cmd.words
    if _is(cmd, "composer", "composer.phar") and len(words) > 1 and words[1] in ("install", "i"):
        dev = not cmd.has("--no-dev") and env.get("COMPOSER_NO_DEV") != "1"
        return Install(
            "php", "vendor", dev, "composer install --no-dev --optimize-autoloader" if dev else None
        )
    if _is(cmd, "bundle", "bundler") and len(words) > 1 and words[1] == "install":
        without = (cmd.value_of("--without") or "") + " " + env.get("BUNDLE_WITHOUT", "")
        dev = not ("development" in without or "test" in without)
        return Install(
            "ruby", "vendor", dev, "bundle install --without development test" if dev else None
        )
    return None


def dependency_install(cmd: SimpleCommand, env: Mapping[str, str]) -> Install | None:
    return node_install(cmd, env) or python_install(cmd, env) or other_install(cmd, env)


def is_prune_to_production(cmd: SimpleCommand) -> bool:
    """`npm prune --omit=dev` and friends: dev dependencies removed after the install."""
    words = cmd.words
    if _is(cmd, "npm") and len(words) > 1 and words[1] == "prune":
        return cmd.has("--production", "--omit") or "--omit=dev" in words
    if _is(cmd, "pnpm") and len(words) > 1 and words[1] == "prune":
        return cmd.has("--prod")
    return _is(cmd, "yarn") and len(words) > 2 and words[1:3] == ("install", "--production")


# ---- system packages ---------------------------------------------------------------

BUILD_PACKAGES = re.compile(
    r"^(gcc(-[0-9.]+)?|g\+\+(-[0-9.]+)?|cpp|clang(-[0-9]+)?|llvm(-[0-9]+)?|make|cmake|ninja-build|"
    r"build-essential|build-base|autoconf|automake|libtool|pkg-config|pkgconf|binutils|"
    r"git|golang(-go|-[0-9.]+)?|go|rustc|cargo|rust|default-jdk(-headless)?|openjdk-[0-9]+-jdk(-headless)?|"
    r"java-[0-9.]+-openjdk-devel|maven|gradle|musl-dev|linux-headers|libc6-dev|libc-dev|"
    r"python3?-dev|python3?-devel|nodejs-dev|ruby-dev|php-dev|gfortran)$"
)
_NPM_BUILD_TOOLS = frozenset({
    "typescript", "ts-node", "webpack", "webpack-cli", "@angular/cli", "vite", "esbuild",
    "rollup", "parcel", "@nestjs/cli", "node-gyp", "tsx", "@vercel/ncc", "babel-cli", "@babel/cli",
})  # fmt: skip

_INSTALLERS = {
    ("apt-get", "install"), ("apt", "install"), ("aptitude", "install"), ("apk", "add"),
    ("yum", "install"), ("dnf", "install"), ("microdnf", "install"), ("zypper", "install"),
    ("zypper", "in"), ("tdnf", "install"),
}  # fmt: skip
_REMOVERS = {
    ("apt-get", "purge"), ("apt-get", "remove"), ("apt", "purge"), ("apt", "remove"),
    ("apk", "del"), ("yum", "remove"), ("dnf", "remove"), ("microdnf", "remove"),
    ("zypper", "remove"), ("zypper", "rm"), ("tdnf", "remove"),
}  # fmt: skip


def _package_args(cmd: SimpleCommand, start: int) -> list[str]:
    out = []
    words = cmd.words
    skip_next = False
    for w in words[start:]:
        if skip_next:
            skip_next = False
            continue
        if w in ("-t", "--virtual", "-o", "--option", "--target-release", "--repository", "-X"):
            skip_next = True
            continue
        if w.startswith("-"):
            continue
        out.append(w)
    return out


def _subcommand_index(cmd: SimpleCommand) -> int:
    for i, w in enumerate(cmd.words[1:], 1):
        if not w.startswith("-"):
            return i
    return 0


def system_packages_installed(cmd: SimpleCommand) -> tuple[list[str], str | None]:
    """(packages, virtual group name) for an apt/apk/yum/dnf install, else ([], None)."""
    i = _subcommand_index(cmd)
    if i == 0 or (cmd.program, cmd.words[i]) not in _INSTALLERS:
        return [], None
    pkgs = [p.split("=", 1)[0].split(":", 1)[0] for p in _package_args(cmd, i + 1)]
    virtual = cmd.value_of("--virtual", "-t") if cmd.program == "apk" else None
    return pkgs, virtual


def system_packages_removed(cmd: SimpleCommand) -> list[str]:
    i = _subcommand_index(cmd)
    if i == 0 or (cmd.program, cmd.words[i]) not in _REMOVERS:
        return []
    return _package_args(cmd, i + 1)


def build_tools_installed(cmd: SimpleCommand) -> list[str]:
    """Names of compilers/build tools this command installs (system or npm -g)."""
    pkgs, _ = system_packages_installed(cmd)
    tools = [p for p in pkgs if BUILD_PACKAGES.match(p)]
    words = cmd.words
    if (
        _is(cmd, "npm")
        and len(words) > 1
        and words[1] in ("install", "i", "add")
        and cmd.has("-g", "--global")
    ):
        tools += [
            w
            for w in cmd.positional(2)
            if w.split("@")[0] in _NPM_BUILD_TOOLS or w in _NPM_BUILD_TOOLS
        ]
    if _is(cmd, "yarn") and words[1:3] == ("global", "add"):
        tools += [w for w in words[3:] if w in _NPM_BUILD_TOOLS]
    return tools


# ---- builds ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Build:
    tool: str  # "tsc", "npm run build", "go build"...
    output: str | None  # where the result lands, relative to the working directory, when known


def build_command(cmd: SimpleCommand) -> Build | None:
    w = cmd.words
    prog = cmd.program
    if prog in ("tsc",) or (prog == "npx" and len(w) > 1 and w[1] == "tsc"):
        out = cmd.value_of("--outDir")
        return Build("tsc", out or "dist")
    if (
        prog in ("npm", "pnpm")
        and len(w) > 2
        and w[1] in ("run", "run-script")
        and w[2].startswith("build")
    ):
        return Build(f"{prog} run {w[2]}", "dist")
    if (
        prog in ("yarn", "pnpm")
        and len(w) > 1
        and (
            w[1].startswith("build") or (w[1] == "run" and len(w) > 2 and w[2].startswith("build"))
        )
    ):
        return Build(f"{prog} build", "dist")
    if prog in ("ng", "vite", "webpack", "next", "nuxt", "parcel", "rollup", "esbuild") and (
        len(w) == 1 or w[1] in ("build", "export") or prog in ("webpack", "esbuild", "rollup")
    ):
        return Build(f"{prog} build", "dist" if prog not in ("next",) else ".next")
    if prog == "go" and len(w) > 1 and w[1] in ("build", "install"):
        return Build("go build", cmd.value_of("-o"))
    if prog == "cargo" and len(w) > 1 and w[1] in ("build", "install"):
        return Build(
            "cargo build", "target/release" if cmd.has("--release", "-r") else "target/debug"
        )
    if prog in ("mvn", "mvnw") and any(x in w for x in ("package", "install", "verify")):
        return Build("mvn package", "target")
    if prog in ("gradle", "gradlew") and any(
        x in w for x in ("build", "assemble", "bootJar", "shadowJar", "installDist", "jar")
    ):
        return Build("gradle build", "build/libs")
    if prog == "dotnet" and len(w) > 1 and w[1] in ("publish", "build"):
        return Build(f"dotnet {w[1]}", cmd.value_of("-o", "--output"))
    if prog in ("javac", "gcc", "g++", "cc", "c++", "clang", "clang++", "rustc"):
        return Build(prog, cmd.value_of("-o", "-d"))
    if prog == "make" and (
        len(w) == 1 or any(x in w for x in ("build", "all", "release", "install"))
    ):
        return Build("make", None)
    if prog == "cmake" and "--build" in w:
        return Build("cmake --build", None)
    if (
        prog.startswith("python")
        and len(w) > 2
        and w[1].endswith("setup.py")
        and w[2] in ("build", "bdist_wheel", "sdist")
    ):
        return Build("python setup.py build", "dist")
    if prog in ("pip", "pip3") and len(w) > 1 and w[1] == "wheel":
        return Build("pip wheel", cmd.value_of("-w", "--wheel-dir"))
    if prog == "python" and w[1:4] == ("-m", "build"):
        return Build("python -m build", "dist")
    if prog in ("swift", "zig") and len(w) > 1 and w[1] == "build":
        return Build(f"{prog} build", None)
    return None


# ---- images ------------------------------------------------------------------------

SDK_IMAGES = {
    "node": "node:{tag}-slim",
    "python": "python:{tag}-slim",
    "golang": "gcr.io/distroless/static-debian12",
    "rust": "debian:bookworm-slim",
    "maven": "eclipse-temurin:17-jre",
    "gradle": "eclipse-temurin:17-jre",
    "openjdk": "eclipse-temurin:{tag}-jre",
    "eclipse-temurin": "eclipse-temurin:{tag}-jre",
    "amazoncorretto": "amazoncorretto:{tag}-alpine",
    "ruby": "ruby:{tag}-slim",
    "php": "php:{tag}-fpm-alpine",
    "elixir": "debian:bookworm-slim",
    "haskell": "debian:bookworm-slim",
    "swift": "swift:{tag}-slim",
    "gcc": "debian:bookworm-slim",
    "buildpack-deps": "debian:bookworm-slim",
    "mcr.microsoft.com/dotnet/sdk": "mcr.microsoft.com/dotnet/aspnet:{tag}",
}
_SLIM_MARKERS = (
    "slim",
    "alpine",
    "distroless",
    "jre",
    "runtime",
    "aspnet",
    "minimal",
    "busybox",
    "fpm",
)


def runtime_alternative(image: str) -> str | None:
    """For a full SDK image, the slimmer image that usually runs the result; else None."""
    name, _, tag = (
        image.partition("@")[0].rpartition(":")
        if ":" in image.rsplit("/", 1)[-1]
        else (image, "", "")
    )
    if not name:
        name, tag = image, ""
    if any(m in tag for m in _SLIM_MARKERS):
        return None
    short = name
    for prefix in ("docker.io/library/", "library/", "docker.io/"):
        if short.startswith(prefix):
            short = short[len(prefix) :]
    template = SDK_IMAGES.get(short)
    if template is None:
        return None
    version = re.split(r"[-_]", tag)[0] if tag else "latest"
    return template.format(tag=version if version else "latest")
