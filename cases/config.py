"""Configuration from `RISKGATE_*` environment variables, with safe one-machine defaults.

With nothing set, everything lives under `./var/`: the SQLite case store, the reports, the local
Prefect server's home and the pid files of the processes the CLI starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cases.errors import InvalidInput

DEFAULT_PREFECT_PORT = 4200
DEFAULT_WEB_PORT = 8000
DEFAULT_LINK_DAYS = 14


@dataclass(frozen=True)
class Smtp:
    """Where mail goes: an SMTP server (RISKGATE_SMTP_HOST set), else files under the data
    directory (`mail/`), so the demo works offline."""

    host: str | None
    port: int = 587
    user: str = ""
    password: str = ""
    sender: str = "riskgate@localhost"
    starttls: bool = True


DEPARTMENTS_FILE = Path(__file__).with_name("departments.yaml")
DEFAULT_LAUNCH_CONCURRENCY = 4
PDF_ARCHIVE_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    lang: str
    prefect_port: int
    prefect_api_url: str | None  # set by the user: use that server, start none
    web_host: str = "127.0.0.1"
    web_port: int = DEFAULT_WEB_PORT
    public_url: str = f"http://127.0.0.1:{DEFAULT_WEB_PORT}"  # how links name the portal
    link_days: int = DEFAULT_LINK_DAYS
    smtp: Smtp = Smtp(host=None)
    departments_file: Path = DEPARTMENTS_FILE  # where departments are notified (addresses)
    # The reverse proxy whose X-Forwarded-For the web app believes (its address); none by
    # default, so a client cannot pick the address sign-in rate limiting counts.
    web_trusted_proxy: str = ""
    # How many cases opened by imports may have a flow run going at once (cases/intake_queue.py).
    launch_concurrency: int = DEFAULT_LAUNCH_CONCURRENCY
    # A PDF copy of each report beside its .docx (reports/archive.py): auto when LibreOffice
    # is installed, on (required: refused at start without it), or off.
    pdf_archive: str = "auto"

    @property
    def imports_dir(self) -> Path:
        """Each import's rejects files (cases/importer.py)."""
        return self.home / "imports"

    @property
    def mail_dir(self) -> Path:
        """Mail written to files when no SMTP server is configured."""
        return self.home / "mail"

    @property
    def web_secret_file(self) -> Path:
        """The key that signs expert links (cases/links.py), owner-only."""
        return self.home / "web-secret"

    def portal_identity(self) -> str:
        """What the portal's health check answers with, so a portal already on the port is
        reused only if it serves this store: a keyed digest of the database URL (the URL,
        which may hold a password, is not revealed)."""
        import hashlib
        import hmac

        from cases.secret_files import owner_only_secret

        key = owner_only_secret(self.web_secret_file).encode()
        return hmac.new(key, self.database_url.encode(), hashlib.sha256).hexdigest()[:16]

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
            "RISKGATE_WEB_URL": self.public_url,
            "RISKGATE_DEPARTMENTS": str(self.departments_file),
            "RISKGATE_PDF_ARCHIVE": self.pdf_archive,
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


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidInput(f"{name}={text[:20]!r}: expected a port number from 1 to 65535")
    return int(text)


def _smtp(env: Mapping[str, str]) -> Smtp:
    host = env.get("RISKGATE_SMTP_HOST") or None
    starttls = (env.get("RISKGATE_SMTP_STARTTLS") or "on").lower()
    if starttls not in ("on", "off"):
        raise InvalidInput(f"RISKGATE_SMTP_STARTTLS={starttls[:10]!r}: expected on or off")
    return Smtp(host=host, port=_port(env, "RISKGATE_SMTP_PORT", 587),
                user=env.get("RISKGATE_SMTP_USER") or "",
                password=env.get("RISKGATE_SMTP_PASSWORD") or "",
                sender=env.get("RISKGATE_SMTP_FROM") or "riskgate@localhost",
                starttls=starttls == "on")


def _pdf_archive(env: Mapping[str, str]) -> str:
    """auto, on or off; `on` without LibreOffice is refused here, at start, rather than as a
    report without its PDF later."""
    mode = (env.get("RISKGATE_PDF_ARCHIVE") or "auto").strip().lower()
    if mode not in PDF_ARCHIVE_MODES:
        raise InvalidInput(f"RISKGATE_PDF_ARCHIVE={mode[:20]!r}: expected auto, on or off")
    if mode == "on":
        from reports.archive import soffice_path  # stdlib only; reports needs nothing of cases

        if soffice_path() is None:
            raise InvalidInput("RISKGATE_PDF_ARCHIVE=on, but LibreOffice is not installed (no "
                               "soffice or libreoffice on PATH): install it (Debian: "
                               "libreoffice-writer-nogui) or set RISKGATE_PDF_ARCHIVE=auto or "
                               "off")
    return mode


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
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
    web_host = env.get("RISKGATE_WEB_HOST") or "127.0.0.1"
    web_port = _port(env, "RISKGATE_WEB_PORT", DEFAULT_WEB_PORT)
    days_text = env.get("RISKGATE_LINK_DAYS") or str(DEFAULT_LINK_DAYS)
    if not days_text.isdigit() or not 1 <= int(days_text) <= 365:
        raise InvalidInput(f"RISKGATE_LINK_DAYS={days_text[:10]!r}: expected 1 to 365 days")
    concurrency_text = env.get("RISKGATE_LAUNCH_CONCURRENCY") or str(DEFAULT_LAUNCH_CONCURRENCY)
    if not concurrency_text.isdigit() or not 1 <= int(concurrency_text) <= 64:
        raise InvalidInput(f"RISKGATE_LAUNCH_CONCURRENCY={concurrency_text[:10]!r}: expected "
                           "1 to 64 flow runs at once")
    public = (env.get("RISKGATE_WEB_URL") or f"http://{web_host}:{web_port}").rstrip("/")
    if not public.startswith(("http://", "https://")):
        raise InvalidInput(f"RISKGATE_WEB_URL={public[:60]!r}: expected an http(s):// URL")
    return Settings(
        home=home,
        database_url=env.get("RISKGATE_DATABASE_URL") or f"sqlite:///{home / 'riskgate.db'}",
        lang=lang,
        prefect_port=port,
        prefect_api_url=env.get("PREFECT_API_URL") or None,
        web_host=web_host, web_port=web_port, public_url=public,
        link_days=int(days_text), smtp=_smtp(env),
        departments_file=Path(env.get("RISKGATE_DEPARTMENTS") or DEPARTMENTS_FILE).expanduser(),
        web_trusted_proxy=(env.get("RISKGATE_WEB_TRUSTED_PROXY") or "").strip(),
        launch_concurrency=int(concurrency_text),
        pdf_archive=_pdf_archive(env),
    )
