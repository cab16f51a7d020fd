"""Errors that reach the user as a message and exit code 2, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a scenario file, an argument, an output path.

    The message is complete as it stands (it names the file, line, field and what was
    expected where they are known); the CLI prints it and exits with code 2.
    """

    exit_code = 2


class ScenarioError(UserError):
    """A scenario file that cannot be read, merged or validated.

    Holds one or more problems, each already formatted as
    ``FILE:LINE: field a.b.c: what was expected``.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
