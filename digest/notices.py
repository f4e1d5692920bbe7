"""The mails a subscription sends one person at a time: the confirmation, "you are already
subscribed", and the welcome after confirming. Both the web app and `subscribers import
--pending` build and send them here, through the configured SMTP server or, without one, as
.eml files in the outbox's `web/` folder (logged with their path, since nothing is mailed).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from sqlalchemy.engine import Engine

from digest.config import Config
from digest.credentials import Secrets
from digest.deliver import DeliveryError, RateLimit, send_one, transport_for
from digest.store.ledger import OUTBOX
from digest.links import confirm_link, links_for, secret_key
from digest.models import Subscriber, SubscriberStatus
from digest.store import Choices, SubscriberRecord, get_subscriber
from digest.transport import Transport

log = logging.getLogger(__name__)

OUTBOX_FOLDER = "web"


@dataclass(frozen=True)
class Mailer:
    """What these mails need beyond the config, resolved once where the app or command starts:
    the key their links are signed with, and where they go: the SMTP server with its password,
    else the outbox's `web/` folder."""

    config: Config
    link_key: str
    transport: Transport

    @classmethod
    def of(cls, config: Config, secrets: Secrets) -> Mailer:
        """RuntimeError when there is no key to sign links with (`links.secret_key`)."""
        return cls(config, secret_key(config, secrets),
                   transport_for(config, secrets, config.outbox_dir / OUTBOX_FOLDER))


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> Environment:
    return Environment(loader=FileSystemLoader(str(templates_dir)), undefined=StrictUndefined,
                       autoescape=select_autoescape(enabled_extensions=("html.j2", "html")),
                       keep_trailing_newline=True)


def _message(config: Config, address: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.mail.sender
    message["To"] = address
    message["Subject"] = subject.strip()
    message["Auto-Submitted"] = "auto-generated"
    if config.mail.reply_to:
        message["Reply-To"] = config.mail.reply_to
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _web_mail(config: Config, address: str, kind: str, **values: str | None) -> EmailMessage:
    env = _environment(config.templates_dir)
    context = {"title": config.edition.title, "email": address, **values}
    return _message(config, address, env.get_template(f"web/email/{kind}.subject.txt").render(context),
                    env.get_template(f"web/email/{kind}.txt").render(context))


def confirmation(mailer: Mailer, row: SubscriberRecord, choices: Choices) -> EmailMessage:
    """The double opt-in mail. No name in it: whoever asked typed that, and the mail goes to
    the address's owner."""
    link = confirm_link(mailer.config, row, choices, mailer.link_key)
    return _web_mail(mailer.config, row.email, "confirm", confirm=link)


def already_subscribed(mailer: Mailer, row: SubscriberRecord) -> EmailMessage:
    links = links_for(mailer.config, row.as_subscriber(), mailer.link_key)
    return _web_mail(mailer.config, row.email, "already", name=row.name, preferences=links.preferences)


def welcome(mailer: Mailer, row: SubscriberRecord) -> EmailMessage:
    """The mail after confirming: what comes when, and the subscriber's own preferences and
    unsubscribe links (also in List-Unsubscribe, so the mail client offers them)."""
    config = mailer.config
    env = _environment(config.templates_dir)
    links = links_for(config, row.as_subscriber(), mailer.link_key)
    context = {"title": config.edition.title, "email": row.email, "name": row.name,
               "regions": row.regions, "edition_time": f"{config.edition.edition_time:%H:%M}",
               "timezone": config.edition.timezone, "preferences": links.preferences,
               "unsubscribe": links.unsubscribe, "archive": config.mail.base_url.rstrip("/") + "/editions"}
    message = _message(config, row.email, env.get_template("welcome.subject.txt.j2").render(context),
                       env.get_template("welcome.txt.j2").render(context),
                       env.get_template("welcome.html.j2").render(context))
    message["List-Unsubscribe"] = f"<{links.unsubscribe}>, <{links.unsubscribe_mailto}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def send_welcome(mailer: Mailer, row: SubscriberRecord) -> bool:
    """Welcome someone who has just confirmed. A templates_dir made before the welcome existed
    lacks its templates: that is logged, and the subscription stands."""
    try:
        message = welcome(mailer, row)
    except TemplateNotFound as exc:
        log.error("welcome email to %s not sent: %s lacks %s (copy it from the project's templates/)",
                  row.email, mailer.config.templates_dir, exc.name)
        return False
    return send(mailer, message, "welcome")


def send(mailer: Mailer, message: EmailMessage, kind: str) -> bool:
    """Send one mail of `kind` (confirm, already, welcome); False, with the failure logged,
    when it could not go out."""
    address = str(message["To"])
    mail = mailer.transport
    try:
        where = send_one(mail, message, to=Subscriber(address), edition_id=f"{kind}-{time.time_ns()}")
    except DeliveryError as exc:
        log.error("%s email to %s could not be sent: %s", kind, address, exc)
        return False
    if mail.taken == OUTBOX:
        log.info("%s email to %s written to %s (no mail.smtp: nothing was mailed)", kind, address, where)
    return True


@dataclass
class ConfirmationReport:
    sent: int = 0
    failed: list[str] = field(default_factory=list)  # addresses whose mail could not go out


def confirm_pending(mailer: Mailer, engine: Engine, subscriber_ids: Sequence[int],
                    per_second: float) -> ConfirmationReport:
    """Mail a confirmation to each pending subscriber (an import with --pending), at most
    `per_second` mails a second: a burst of first mails to a new list is what providers
    throttle and flag. The link confirms the name and regions the import stored."""
    report = ConfirmationReport()
    rate = RateLimit(per_second)
    for subscriber_id in subscriber_ids:
        row = get_subscriber(engine, subscriber_id)
        if row is None or row.status != SubscriberStatus.PENDING:
            continue  # removed or confirmed since the import read it
        message = confirmation(mailer, row, Choices(row.name, row.regions))
        rate.wait()
        if send(mailer, message, "confirm"):
            report.sent += 1
        else:
            report.failed.append(str(message["To"]))
    return report
