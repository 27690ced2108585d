"""The one exception tree of etage.

    EtageError                      anything etage reports to a human
    ├── UsageError                  bad command-line input (exit status 2)
    ├── DockerfileError             something wrong in a Dockerfile (exit status 2)
    │   ├── DockerfileSyntaxError   the text cannot be parsed
    │   └── InstructionError        parsed, but an instruction or its flags are invalid
    ├── ExpansionError              a ${VAR...} expression cannot be expanded
    ├── PlanError                   the stage graph is invalid (unknown target, cycle...)
    └── ContextError                the build context or an ignore file is unusable

The library raises; only the CLI formats. Every error may carry a location in a
Dockerfile (file, line, column) and a hint that tells the user what to do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in a source file. Lines and columns count from 1; column 0 means unknown."""

    file: str
    line: int
    column: int = 0
    end_line: int = 0

    def __str__(self) -> str:
        if self.column:
            return f"{self.file}:{self.line}:{self.column}"
        return f"{self.file}:{self.line}"


class EtageError(Exception):
    """Base of every error etage raises on purpose."""

    exit_status = 1

    def __init__(
        self,
        message: str,
        *,
        location: SourceLocation | None = None,
        hint: str | None = None,
        source_line: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        # The text of the offending line, to print under the message with a caret.
        self.source_line = source_line

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message}"

    def with_location(self, location: SourceLocation, source_line: str | None = None) -> EtageError:
        """Attach a location if the error has none yet (context is added once)."""
        if self.location is None:
            self.location = location
        if self.source_line is None and source_line is not None:
            self.source_line = source_line
        return self


class UsageError(EtageError):
    exit_status = 2


class DockerfileError(EtageError):
    exit_status = 2


class DockerfileSyntaxError(DockerfileError):
    pass


class InstructionError(DockerfileError):
    pass


class ExpansionError(EtageError):
    exit_status = 2


class PlanError(EtageError):
    exit_status = 2


class ContextError(EtageError):
    exit_status = 2
