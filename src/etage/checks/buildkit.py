"""BuildKit's Dockerfile build checks (`docker build --check`), with the same names and meaning.

Each rule fires where BuildKit's frontend fires it, and its message is BuildKit's, word
for word (moby/buildkit `frontend/dockerfile/linter/ruleset.go`). BuildKit runs its
rules at three moments, and so does this module:

* while typing instructions (`instructions/parse.go`): MaintainerDeprecated,
  StageNameCasing, FromAsCasing, InvalidDefinitionDescription;
* over the whole file (`dockerfile2llb/validations.go`, `convert.go`):
  NoEmptyContinuation, DuplicateStageName, ReservedStageName,
  ConsistentInstructionCasing, InvalidDefaultArgInFrom, and, per FROM line,
  UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed;
* while dispatching each stage's instructions in order (`convert.go`): UndefinedVar,
  LegacyKeyValueFormat, SecretsUsedInArgOrEnv, WorkdirRelativePath,
  JSONArgsRecommended, MultipleInstructionsDisallowed, ExposeProtoCasing,
  ExposeInvalidFormat, CopyIgnoredFile. ONBUILD triggers inherited from a stage base
  run first and are reported on the FROM line of the stage that runs them, as in
  BuildKit.

Like `docker build --check` without --target, every stage is linted. Everything found
is reported, experimental rules included: the `# check=` directive, `# check=skip=`
comments above instructions and the experimental filter are applied by the runner.
Every finding carries a concrete fix: the corrected line where one exists, sometimes
followed by " — " and a short note, otherwise a sentence.

The rules live in `buildkit_file` (parse-time and whole-file rules) and
`buildkit_dispatch` (per-stage dispatch rules), over the shared state of
`buildkit_base`; the fixes and BuildKit's suggestion search are in `buildkit_fixes`.
"""

from __future__ import annotations

from collections.abc import Iterator

from etage.checks.buildkit_dispatch import DispatchRules
from etage.checks.buildkit_file import FileRules
from etage.checks.buildkit_fixes import buildkit_suggest, exec_form_fix
from etage.checks.context import CheckInput
from etage.checks.model import Finding

__all__ = ["buildkit_suggest", "check_buildkit", "exec_form_fix"]


def check_buildkit(ci: CheckInput) -> Iterator[Finding]:
    """BuildKit's build checks over every stage of `ci.plan`, in file order, without repeats."""
    seen: set[tuple[str, int, str]] = set()
    found = [*FileRules(ci).run(), *DispatchRules(ci).run()]
    findings = sorted(found, key=lambda f: (f.line, f.rule.id, f.message))
    for f in findings:
        key = (f.rule.id, f.line, f.message)
        if key not in seen:  # e.g. two ONBUILD triggers reported on the same FROM line
            seen.add(key)
            yield f
