"""Who acted, as the audit log names them.

Until people sign in with accounts (the staff console), the CLI names the person at the
terminal (their login name) or the name given with `--by`. Either way the name is checked: one
line of letters, digits and `. _ - @ +`, at most 64 characters — no newline, control character
or 100 kB text goes into the audit log — and never the system's own name, which the gates and
the sweeper use (`riskgate …`), so nobody can make their action look like RiskGate's.
"""

from __future__ import annotations

import re

from cases.errors import InvalidInput

SYSTEM_NAME = "riskgate"
MAX_NAME = 64
_NAME = re.compile(r"^[\w.@+-]{1,64}$")


def staff_actor(name: str, *, source: str = "--by") -> str:
    """`staff:<name>` for a valid person's name; InvalidInput naming what is wrong."""
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{source}: a name of {len(name)} characters; at most {MAX_NAME}")
    if not _NAME.match(name):
        raise InvalidInput(f"{source}: {name[:40]!r} is not a name: use letters, digits and "
                           ". _ - @ + (no spaces or line breaks)")
    if name.casefold().startswith(SYSTEM_NAME):
        raise InvalidInput(f"{source}: {name[:40]!r}: names starting with {SYSTEM_NAME!r} are "
                           "the system's own")
    return f"staff:{name}"
