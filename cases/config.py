"""Configuration from `RISKGATE_*` environment variables, with safe one-machine defaults.

With nothing set, everything lives under `./var/`: the SQLite case store, the reports, the local
Prefect server's home and the pid files of the processes the CLI starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cases.errors import InvalidInput

DEFAULT_PREFECT_PORT = 4200


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    lang: str
    prefect_port: int
    prefect_api_url: str | None  # set by the user: use that server, start none

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def prefect_auth_file(self) -> Path:
        """The local Prefect server's API secret (flows/stack.py), owner-only."""
        return self.home / "prefect-auth"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def local_api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return self.prefect_api_url or self.local_api_url

    def child_env(self) -> dict[str, str]:
        """Environment for processes the CLI starts, so they see the same store and server."""
        return {
            "RISKGATE_HOME": str(self.home),
            "RISKGATE_DATABASE_URL": self.database_url,
            "RISKGATE_LANG": self.lang,
            "RISKGATE_PREFECT_PORT": str(self.prefect_port),
        }


PRIVATE_UMASK = 0o077


def make_private(settings: Settings) -> None:
    """The data directory holds the store, the reports, the Prefect secret and the logs: it is
    the owner's only. Files this process and its children create are owner-only too (umask),
    and a home created readable by others earlier is tightened."""
    os.umask(PRIVATE_UMASK)
    try:
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if settings.home.stat().st_uid == os.getuid():
            settings.home.chmod(0o700)
    except OSError as exc:
        raise InvalidInput(f"RISKGATE_HOME={settings.home}: cannot use it ({exc.strerror})") \
            from None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    home = Path(env.get("RISKGATE_HOME") or "var").expanduser().resolve()
    lang = env.get("RISKGATE_LANG") or "zh"
    if lang not in ("zh", "en"):
        raise InvalidInput(f"RISKGATE_LANG={lang!r}: expected zh or en")
    port_text = env.get("RISKGATE_PREFECT_PORT") or str(DEFAULT_PREFECT_PORT)
    if not port_text.isdigit() or not 1024 <= int(port_text) <= 65535:
        raise InvalidInput(f"RISKGATE_PREFECT_PORT={port_text[:20]!r}: expected a port number "
                           "from 1024 to 65535")
    port = int(port_text)
    return Settings(
        home=home,
        database_url=env.get("RISKGATE_DATABASE_URL") or f"sqlite:///{home / 'riskgate.db'}",
        lang=lang,
        prefect_port=port,
        prefect_api_url=env.get("PREFECT_API_URL") or None,
    )
