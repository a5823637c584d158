"""User-facing errors: one line that says what was wrong and where.

Every error a person can cause (a bad file, an unknown expert, a score out of range, a case in the
wrong state) is a `RiskGateError`; the CLI prints its message on one line and exits non-zero, and
nothing stored has changed when it is raised.
"""

from __future__ import annotations

from pydantic import ValidationError


class RiskGateError(Exception):
    """An error caused by input or state that the user can fix; `str()` is the whole message.
    `code` and `params`, when given, let a web page say the same in its own language
    (`refusal.<code>` in its catalog)."""

    exit_code = 2

    def __init__(self, message: str = "", *, code: str = "", **params: object) -> None:
        super().__init__(message)
        self.code, self.params = code, params


class NotFound(RiskGateError):
    exit_code = 3


class InvalidInput(RiskGateError):
    exit_code = 2


class InvalidRows(InvalidInput):
    """Several independent problems (a roster's bad rows), printed one per line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class WrongState(RiskGateError):
    """The case is not at a point where this action is allowed (e.g. not waiting for scores)."""

    exit_code = 4


class CaseBusy(WrongState):
    """Another run holds the case's lease."""


class LeaseLost(WrongState):
    """This run no longer holds the case's lease: another run took the case over (or the lease
    expired and was taken). The run stops without recording anything more; its flow run fails
    with this message, which names the case and the other holder."""


def _location(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def describe_validation_error(exc: ValidationError, *, source: str = "") -> str:
    """Summarise a pydantic error on one line: `source: field.path: message (got …)`.

    Only the first error is spelled out (with a count of the rest), because a one-line message
    that lists twelve problems is unreadable; fixing the first usually reveals the next.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = _location(tuple(first.get("loc", ())))
    message = first.get("msg", "invalid")
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    got = first.get("input")
    shown = ""
    if first.get("type") not in ("missing",) and not isinstance(got, dict | list):
        text = repr(got)
        shown = f" (got {text[:60]}{'…' if len(text) > 60 else ''})"
    more = f" [+{len(errors) - 1} more]" if len(errors) > 1 else ""
    prefix = f"{source}: " if source else ""
    return f"{prefix}{where}: {message}{shown}{more}"


class FieldErrors(InvalidInput):
    """A form refused field by field: `errors` maps each field to (code, parameters, English
    text). The web app shows each beside its field in the page's language (`error.<code>` in
    its catalog); the CLI prints the first on one line."""

    def __init__(self, errors: dict[str, tuple[str, dict, str]], *, source: str = "") -> None:
        self.errors = errors
        name, (_, _, text) = next(iter(errors.items()))
        more = f" [+{len(errors) - 1} more]" if len(errors) > 1 else ""
        super().__init__(f"{source + ': ' if source else ''}{name}: {text}{more}")

    @classmethod
    def from_validation(cls, exc: ValidationError, *, source: str = "") -> FieldErrors:
        found: dict[str, tuple[str, dict, str]] = {}
        for error in exc.errors(include_url=False):
            where = _location(tuple(error.get("loc", ())))
            text = error.get("msg", "invalid").removeprefix("Value error, ")
            found.setdefault(where, (error["type"], dict(error.get("ctx") or {}), text))
        return cls(found, source=source)
