"""Email addresses: the one check every way in (web form, CLI, CSV import, config) goes through.

What passes is what delivery can send: the sender does not speak SMTPUTF8, so the local
part must be ASCII, and an internationalised domain is kept in its ASCII (punycode) form,
which is what SMTP, the To header and DNS use. Mailbox names are case-insensitive at every
provider that matters, so the address is lower-cased: one person, one row.
"""

from __future__ import annotations

import email.policy
from email import errors

from email_validator import EmailNotValidError, validate_email

from digest.errors import DigestError


class AddressError(DigestError, ValueError):
    """Not an address this sender can deliver to; the message names it and says why."""


def normalize(address: str) -> str:
    """The canonical deliverable form of `address` (ASCII, lower case), or AddressError."""
    if not isinstance(address, str):
        raise AddressError(f"{address!r} is not an email address (expected text)")
    try:
        valid = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressError(f"{address!r} is not a valid email address: {exc}") from exc
    return valid.ascii_email.lower()


def check_mailbox(value: str) -> None:
    """AddressError unless `value` is one mailbox (`Name <user@host>` or a bare address) whose
    address `normalize` accepts; the sender's own spelling is left to it."""
    header = email.policy.default.header_factory("From", value)
    # A non-ASCII local part parses; `normalize` says plainly why it cannot be used.
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects or len(header.addresses) != 1:
        problems = "; ".join(str(d) for d in defects) or f"{len(header.addresses)} addresses"
        raise AddressError(f"{value!r} is not one email address such as 'Name <user@example.org>' ({problems})")
    normalize(header.addresses[0].addr_spec)
