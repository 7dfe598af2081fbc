"""The one root error. Every error tunewise raises for something the user can fix derives from
`TunewiseError`; it carries the exit code the CLI ends with and the HTTP status the server
answers with, so neither has to list error classes by name."""

from __future__ import annotations


class TunewiseError(Exception):
    """An error with a one-line message that says what is wrong and, where it can, what to do."""

    exit_code: int = 2
    http_status: int = 400
    kind: str = "invalid_request_error"  # the OpenAI error "type" the server reports
    code: str | None = None  # the OpenAI error "code", where there is one (context_length_exceeded)

    def __init__(self, message: str = "", *, exit_code: int | None = None,
                 http_status: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        if http_status is not None:
            self.http_status = http_status
