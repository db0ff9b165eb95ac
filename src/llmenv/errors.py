"""The errors llmenv raises. One boundary (`llmenv.cli.main`) maps them to messages and exit codes.

Exit codes everywhere: 0 success; 1 the answer is "no" (no compatible plan, lock failed, doctor found a
failure); 2 bad usage or input (one clear line, no traceback, no file changed).
"""

from __future__ import annotations

__all__ = ["LlmenvError", "NoAnswer", "UsageError"]


class LlmenvError(Exception):
    """Base class. ``hint`` is an optional second line telling the user what to do."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(LlmenvError):
    """Bad usage or bad input: exit code 2."""

    exit_code = 2


class NoAnswer(LlmenvError):
    """The answer is "no": no compatible plan, a failed lock. Exit code 1."""

    exit_code = 1
