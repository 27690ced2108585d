"""The catalogue of static rules: BuildKit's build checks and etage's multi-stage rules.

BuildKit rules keep BuildKit's names and meaning (docs.docker.com/go/dockerfile/rule/...),
so `# check=skip=...` written for `docker build --check` works the same here.
"""

from __future__ import annotations

from etage.checks.model import Rule, Severity

W, INFO = Severity.WARNING, Severity.INFO
_BK = "https://docs.docker.com/go/dockerfile/rule/"


def _bk(name: str, slug: str, title: str, why: str, *, experimental: bool = False) -> Rule:
    return Rule(name, W, title, why, "buildkit", _BK + slug + "/", experimental)


def _etage(name: str, severity: Severity, title: str, why: str) -> Rule:
    return Rule(name, severity, title, why, "etage")


BUILDKIT_RULES = (
    _bk("StageNameCasing", "stage-name-casing", "Stage names should be lowercase",
        "BuildKit stores stage names lower-cased; a mixed-case name suggests a distinction that does not exist."),
    _bk("FromAsCasing", "from-as-casing", "The 'as' keyword should match the case of the 'from' keyword",
        "Consistent casing keeps Dockerfiles readable."),
    _bk("NoEmptyContinuation", "no-empty-continuation", "Empty continuation lines will become errors in a future release",
        "An empty line inside a continued instruction is ignored today and will be an error later."),
    _bk("ConsistentInstructionCasing", "consistent-instruction-casing",
        "All commands within the Dockerfile should use the same casing (either upper or lower)",
        "Mixed casing makes instructions harder to scan."),
    _bk("DuplicateStageName", "duplicate-stage-name", "Stage names should be unique",
        "With two stages of the same name, --from and --target silently pick the last one."),
    _bk("ReservedStageName", "reserved-stage-name", "Reserved words should not be used as stage names",
        "`scratch` and `context` have special meanings in FROM and --from."),
    _bk("JSONArgsRecommended", "json-args-recommended",
        "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
        "In shell form the process runs under /bin/sh -c, which does not forward SIGTERM: containers stop slowly and lose in-flight work."),
    _bk("MaintainerDeprecated", "maintainer-deprecated",
        "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
        "MAINTAINER is deprecated; the OCI label org.opencontainers.image.authors is read by registries and tools."),
    _bk("UndefinedArgInFrom", "undefined-arg-in-from", "FROM command must use declared ARGs",
        "Only ARGs declared before the first FROM are visible in FROM lines; an undeclared one expands to nothing."),
    _bk("WorkdirRelativePath", "workdir-relative-path",
        "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
        "A relative WORKDIR depends on the base image's working directory, which can change under you."),
    _bk("UndefinedVar", "undefined-var", "Variables should be defined before their use",
        "An undefined variable expands to an empty string, usually producing a wrong path or value silently."),
    _bk("MultipleInstructionsDisallowed", "multiple-instructions-disallowed",
        "Multiple instructions of the same type should not be used in the same stage",
        "Only the last CMD, ENTRYPOINT or HEALTHCHECK of a stage takes effect; the others are dead code."),
    _bk("LegacyKeyValueFormat", "legacy-key-value-format",
        "Legacy key/value format with whitespace separator should not be used",
        "`ENV key value` takes everything after the key as one value, which surprises readers; `key=value` is unambiguous."),
    _bk("RedundantTargetPlatform", "redundant-target-platform",
        "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
        "FROM already uses the target platform by default."),
    _bk("SecretsUsedInArgOrEnv", "secrets-used-in-arg-or-env",
        "Sensitive data should not be used in the ARG or ENV commands",
        "ARG and ENV values are stored in the image config and history, where anyone who pulls the image can read them."),
    _bk("InvalidDefaultArgInFrom", "invalid-default-arg-in-from",
        "Default value for global ARG results in an empty or invalid base image name",
        "Without --build-arg the build fails: give the ARG a default that forms a valid image reference."),
    _bk("FromPlatformFlagConstDisallowed", "from-platform-flag-const-disallowed",
        "FROM --platform flag should not use a constant value",
        "A constant platform breaks multi-platform builds; use $BUILDPLATFORM or a platform-named stage."),
    _bk("CopyIgnoredFile", "copy-ignored-file", "Attempting to Copy file that is excluded by .dockerignore",
        "The file is not sent to the builder, so the COPY fails or copies nothing."),
    _bk("InvalidDefinitionDescription", "invalid-definition-description",
        "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`",
        "Description comments are shown by `--call=outline`; a comment right above FROM or ARG is read as one.",
        experimental=True),
    _bk("ExposeProtoCasing", "expose-proto-casing", "Protocol in EXPOSE instruction should be lowercase",
        "Protocols are matched lower-case."),
    _bk("ExposeInvalidFormat", "expose-invalid-format",
        "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
        "EXPOSE documents container ports; host mappings belong to `docker run -p`."),
)  # fmt: skip

ETAGE_RULES = (
    _etage("UnnamedStage", W, "Stages of a multi-stage Dockerfile should be named",
           "`COPY --from=0` says nothing; a name says what the stage is for, and adding a stage does not renumber the others."),
    _etage("NumericStageReference", W, "Refer to stages by name, not by index",
           "Indexes shift when a stage is added above; `--from=builder` keeps working and reads as documentation."),
    _etage("CopyWholeBuildTree", W, "Only the build output should cross into the final stage",
           "Copying a builder's whole application directory (or /) ships sources, dev dependencies and build caches: the image is larger and exposes more."),
    _etage("DevDependenciesCopied", W, "Dependency trees copied into the final stage should hold production dependencies only",
           "A dependency tree from a stage that installed dev dependencies ships test frameworks, compilers and linters to production."),
    _etage("DevInstallInFinalStage", W, "The final stage should install production dependencies only",
           "Dev dependencies in the image that ships add size and attack surface and are never used at run time."),
    _etage("BuildToolsInFinalStage", W, "Compilers and build tools should stay in a build stage",
           "A toolchain in the final image weighs hundreds of MB and helps an attacker who gets a shell."),
    _etage("BuildInSingleStage", W, "A build in a single-stage Dockerfile ships its toolchain",
           "Building in the only stage leaves compilers, sources and dev dependencies in the image; a builder stage keeps them out."),
    _etage("FinalStageOnSdkImage", W, "The final stage should not use the builder's full SDK image",
           "The SDK image carries compilers and headers the application does not need at run time; a slim or runtime image is several times smaller."),
    _etage("TrivialMultiStage", INFO, "Stages without a build step add complexity without benefit",
           "Multi-stage builds pay off when a stage builds something; for a script or static files one FROM is simpler."),
    _etage("DockerfileVariants", W, "Per-environment Dockerfiles drift apart: use one Dockerfile with targets",
           "Dockerfile.dev and Dockerfile.prod duplicate code and let what is tested differ from what ships; stages, ARGs and --target express the differences in one file."),
    _etage("UnusedStage", INFO, "A stage that nothing uses and that is not the last is a target-only or dead stage",
           "It is built only with --target; if nobody does that, it is dead code that still has to be maintained."),
)  # fmt: skip

E = Severity.ERROR

# Checks of a built image: evidence of what it holds (etage check --image, after builds).
IMAGE_RULES = (
    _etage("DevDependenciesShipped", W, "Node dev dependencies should not be in the image",
           "devDependencies (compilers, test frameworks, linters) are never used at run time: they add size and attack surface."),
    _etage("PythonDevPackagesShipped", W, "Python dev and test packages should not be in the image",
           "pytest, mypy, linters and the like are never used at run time: they add size and attack surface."),
    _etage("BuildToolsShipped", W, "Compilers and build tools should not be in the image",
           "A toolchain weighs hundreds of MB and helps an attacker who gets a shell; the program it built is all that needs to ship."),
    _etage("SourcesShipped", W, "Sources should not ship beside their compiled output",
           "The compiled program runs without its sources: they only add size and expose code."),
    _etage("TestsShipped", W, "Tests should not be in the image",
           "Test code and fixtures are not used at run time."),
    _etage("VcsDirectoryShipped", W, "A .git directory should not be in the image",
           "A .git directory holds the whole history, sometimes credentials, and is usually large."),
    _etage("DevConfigShipped", INFO, "Editor, CI and build configuration should not be in the image",
           "Files such as .vscode/, .github/, .eslintrc or Dockerfile are of no use at run time."),
    _etage("PackageCacheShipped", W, "Package manager caches should not be in the image",
           "Download caches and package lists are only needed while installing: in the image they are dead weight."),
    _etage("SecretInLayer", E, "A secret-looking file is in a layer of the image",
           "Every layer can be extracted by anyone who pulls the image: deleting a file in a later layer does not remove it."),
    _etage("SecretInConfig", E, "A secret-looking value is in the image config or history",
           "The config and history of an image are readable by anyone who pulls it."),
    _etage("WastedBytes", W, "Files added in one layer and removed or overwritten in a later one",
           "The bytes stay in the earlier layer: the image is larger than its filesystem."),
    _etage("OversizedCopy", W, "A COPY --from brought much more than the program uses",
           "Copying a builder's whole tree ships sources, tests and build dependencies along with the output."),
)  # fmt: skip

ALL_RULES = {r.id: r for r in (*BUILDKIT_RULES, *ETAGE_RULES, *IMAGE_RULES)}


def rule(rule_id: str) -> Rule:
    return ALL_RULES[rule_id]
