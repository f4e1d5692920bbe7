"""Configuration: what one TOML file (`digest.toml` by default) may say, as pydantic models.

Each model checks its own values (addresses, URLs, the subject pattern, the store URL, time
zones, source kinds); `digest.config_file` reads a file into a `Config`, resolving its paths
and checking the files it names. `gazetteer_path` says where the gazetteer index lives, from
the environment a run starts in.
"""

from __future__ import annotations

import ipaddress
from datetime import date, time
from pathlib import Path
from collections.abc import Mapping
from typing import Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from digest import addresses, summarizers
from digest.gazetteer import default_index_path
from digest.regions import home_code

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEFAULT_CONFIG = Path("digest.toml")
DEFAULT_REGION_TABLE = PACKAGE_DIR / "data" / "regions.csv"


def bundled_dir(name: str) -> Path:
    """A data folder the repository keeps at its top level (`templates`, `sample`).

    An installed wheel carries it inside the package (see pyproject.toml's package-dir), a
    checkout or editable install beside it: the package's copy wins when present.
    """
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else PROJECT_DIR / name


DEFAULT_TEMPLATES = bundled_dir("templates")
SAMPLE_DIR = bundled_dir("sample")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Login(_Model):
    """A server login. The password is never in the file: the edge resolves it (`digest.credentials`)
    and binds it with `with_password`; unbound, it is None."""

    _password: str | None = PrivateAttr(None)

    @property
    def password(self) -> str | None:
        return self._password

    def with_password(self, password: SecretStr | None) -> Self:
        bound = self.model_copy()
        bound._password = password.get_secret_value() if password is not None else None
        return bound


class SourceConfig(_Model):
    name: str
    kind: Literal["feed", "page", "folder"]
    # feed/page: an http(s) URL, a file:// URL or a local path; folder: a local path.
    url: str
    # Fetch each feed entry's page and extract its main text (falls back to the feed's content).
    fetch_pages: bool = True
    # Let this source and the links in it reach loopback/private addresses (only for sources
    # the operator trusts); files are reachable only from a source that is itself a local path.
    local: bool = False
    # Where the outlet is, as an ISO code ("US-LA", "GB", "CA-ON"): a local paper's bare town
    # names ("Pineville") are read as that state's. It places no story by itself.
    home: str | None = None

    @field_validator("home")
    @classmethod
    def _known_home(cls, value: str | None) -> str | None:
        return home_code(value) if value is not None else None


class EditionConfig(_Model):
    title: str = "World Digest"
    timezone: str = "UTC"
    # The local time (in `timezone`) an edition is dated at; its window ends here.
    edition_time: time = time(6, 0)
    window_hours: float = 24.0
    max_lookback_hours: float = 36.0
    sentences: int = Field(2, ge=1, le=10)
    summarizer: str = summarizers.DEFAULT  # a name in digest.summarizers.SUMMARIZERS
    region_table: Path = DEFAULT_REGION_TABLE
    # Section order; regions not listed here follow in the table's order.
    regions: list[str] = Field(default_factory=list)
    # {regions} and {stories} are numbers; {region_count} and {story_count} say "1 region", "2 stories".
    subject: str = "{title} — {date:%-d %b}: {region_count}, {story_count}"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("summarizer")
    @classmethod
    def _registered(cls, value: str) -> str:
        return summarizers.check_name(value)

    @field_validator("subject")
    @classmethod
    def _fillable(cls, value: str) -> str:
        try:
            value.format(title="World Digest", date=date(2017, 10, 18), regions=8, stories=40,
                         region_count="8 regions", story_count="40 stories")
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(f"pattern {value!r} cannot be filled (fields: title, date, regions, "
                             f"stories, region_count, story_count): {type(exc).__name__}: {exc}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SmtpConfig(_Login):
    host: str
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    # The password never lives in the file: name an environment variable (or a Prefect Secret block).
    password_env: str | None = "DIGEST_SMTP_PASSWORD"
    timeout: float = 30.0
    connections: int = Field(1, ge=1, le=32)
    rate_per_second: float | None = None
    # Temporary failures (4xx, dropped connections, timeouts) are retried within a run this many
    # times in all, waiting retry_backoff seconds, doubling each time; a rerun retries the rest.
    max_attempts: int = Field(5, ge=1, le=50)
    retry_backoff: float = Field(2.0, ge=0)
    # Mark an address bounced after this many refusals of it as unknown (5.1.x), over editions; 0: never.
    bounce_after: int = Field(1, ge=0)
    # The same permanent refusal for this many recipients in a row is the server's problem (relay
    # denied, policy): delivery stops and nobody is marked failed or bounced.
    refusal_streak: int = Field(5, ge=2)
    # Stop the run after this many connection, TLS or greeting failures in a row.
    circuit_breaker: int = Field(3, ge=1)
    # Messages a connection claims in the ledger, sends and records together (one store commit
    # each way per batch). After a crash up to this many per connection are in doubt and sent
    # again, with the same Message-ID; the default 1 keeps that to the one message in
    # transaction, larger batches trade that for speed on big lists.
    batch: int = Field(1, ge=1, le=1000)


class ImapFolders(_Model):
    inbox: str = "INBOX"  # where bounces and unsubscribe mails arrive
    processed: str = "Processed"  # where they go once acted on (created when missing)

    @field_validator("inbox", "processed")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if not value.strip() or any(c in value for c in "\r\n\0"):
            raise ValueError(f"{value!r} is not an IMAP folder name")
        return value


class ImapConfig(_Login):
    """The mailbox bounces and mailed unsubscribes arrive in (`digest bounces`)."""

    host: str
    port: int | None = Field(None, ge=1, le=65535)  # default: 993 with tls, else 143
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    # The password never lives in the file: name an environment variable.
    password_env: str = "DIGEST_IMAP_PASSWORD"
    timeout: float = Field(30.0, gt=0, le=600)
    folders: ImapFolders = Field(default_factory=ImapFolders)
    # A subscriber is marked bounced after this many deliveries returned for other reasons than
    # "no such address" (full mailbox, refused content) within soft_bounce_days; a returned
    # "no such address" counts like an SMTP refusal of it (smtp.bounce_after, default 1).
    soft_bounces: int = Field(3, ge=1)
    soft_bounce_days: float = Field(30.0, gt=0, le=3650)

    @model_validator(mode="after")
    def _secure_unless_loopback(self) -> ImapConfig:
        if self.port is None:
            self.port = 993 if self.security == "tls" else 143
        if self.folders.inbox == self.folders.processed:
            raise ValueError(f"folders: inbox and processed are both {self.folders.inbox!r}")
        if self.security == "none" and not _is_loopback(self.host):
            raise ValueError(f"security = \"none\" would send the password to {self.host} in clear; "
                             "use tls or starttls (none is for a server on this machine)")
        return self


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class MailConfig(_Model):
    sender: str = "World Digest <digest@example.org>"
    reply_to: str | None = None
    list_id: str = "World Digest <digest.example.org>"
    base_url: str = "http://localhost:8000"
    imprint: str = "World Digest · a sample edition built from Wikinews (CC BY 2.5)"
    smtp: SmtpConfig | None = None
    imap: ImapConfig | None = None  # the bounce mailbox, see digest.bounces
    # A subscriber none of whose regions has a story today gets a short note ("note") or nothing.
    quiet_day: Literal["note", "skip"] = "note"
    # DKIM signing, on when selector and domain are set. The PEM private key is read from the
    # environment variable named here, or else from dkim_key_path; never from this file.
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_key_env: str | None = "DIGEST_DKIM_PRIVATE_KEY"
    dkim_key_path: Path | None = None

    @field_validator("sender", "reply_to")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        if value is not None:
            addresses.check_mailbox(value)
        return value

    @field_validator("base_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host (links in every email start with it)")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} has a query or fragment; links are made by appending paths to it")
        return value


class WebConfig(_Model):
    """The subscription web app (`digest web`)."""

    # Proxies (addresses or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed;
    # from anyone else those headers are ignored, so a client cannot pose as another address.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value


class QualityConfig(_Model):
    """The quality gate: an edition failing any check is built and archived but held, not sent."""

    max_failed_source_share: float = Field(0.5, ge=0, le=1)
    min_articles: int = Field(1, ge=0)
    max_empty_summary_share: float = Field(0.25, ge=0, le=1)
    max_global_share: float = Field(0.6, ge=0, le=1)
    # Gmail clips messages whose HTML is larger than about 102 KB.
    max_html_bytes: int = Field(500_000, ge=1)


class OrchestrationConfig(_Model):
    """How the Prefect flow runs the stages (the task runner itself is chosen by environment)."""

    fetch_retries: int = Field(2, ge=0, le=10)
    fetch_retry_delay: float = Field(5.0, ge=0)  # seconds; doubles on every retry
    # Created as a tag concurrency limit "digest-fetch" when missing; the operator may change it.
    fetch_concurrency: int = Field(4, ge=1)
    batch_size: int = Field(100, ge=1)  # articles per summarize/locate task run


class SubscriberConfig(_Model):
    email: str
    name: str | None = None
    regions: list[str] | None = None


class Config(_Model):
    path: Path = Path("digest.toml")
    edition: EditionConfig = Field(default_factory=EditionConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    output_dir: Path = Path("out")
    store_url: str = "sqlite:///var/digest.db"
    templates_dir: Path = DEFAULT_TEMPLATES
    mail: MailConfig = Field(default_factory=MailConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)
    subscribers: list[SubscriberConfig] = Field(default_factory=list)
    subscribers_file: Path | None = None
    user_agent: str = "regional-digest/0.1 (+https://github.com/example/regional-digest)"
    # --- fetching and collection: everything a third-party server or feed can make large or slow.
    fetch_timeout: float = Field(20.0, gt=0, le=600)  # seconds one connect or read may wait
    # Seconds one fetch may take in all (connect, headers, body, redirects, retries); default 3 × fetch_timeout.
    fetch_deadline: float | None = Field(None, gt=0, le=3600)
    # Seconds one source may take in all: its feed, every entry page and the flow's retries of
    # it. Pages it has no time left for keep the feed's text, and the source's errors say how many.
    source_budget: float = Field(120.0, gt=0, le=3600)
    max_response_bytes: int = Field(10_000_000, ge=1024)
    per_host_concurrency: int = Field(4, ge=1, le=64)
    # Beyond these, entries are dropped and texts cut; each cut is named in the source's errors.
    max_entries_per_feed: int = Field(500, ge=1)
    max_title_chars: int = Field(300, ge=20)
    max_summary_chars: int = Field(20_000, ge=20)  # when it is an entry's only text, max_article_chars applies
    max_article_chars: int = Field(100_000, ge=200)

    @field_validator("store_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # Imported here: SQLAlchemy costs a third of a second, and batch commands never load a config.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(value).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a database URL SQLAlchemy can use "
                             "(e.g. sqlite:///var/digest.db, postgresql+psycopg://user@host/db)") from exc
        return value

    @property
    def outbox_dir(self) -> Path:
        return self.output_dir / "outbox"


def gazetteer_path(environ: Mapping[str, str]) -> Path:
    """Where the gazetteer index lives, as the environment where a run starts says: the file
    `$DIGEST_GAZETTEER`, else in `$DIGEST_CACHE_DIR`, else in `$XDG_CACHE_HOME/regional-digest`
    (`~/.cache/regional-digest`)."""
    if environ.get("DIGEST_GAZETTEER"):
        return Path(environ["DIGEST_GAZETTEER"])
    if environ.get("DIGEST_CACHE_DIR"):
        return default_index_path(Path(environ["DIGEST_CACHE_DIR"]))
    return default_index_path(Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "regional-digest")
