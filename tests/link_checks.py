"""What a signed link in a message must be, checked without minting a second link to compare with.

Tokens carry the second they were signed in, so a link made for the check a moment after the
message can differ from the message's own across a second boundary: read the link back instead.
"""

from __future__ import annotations

from urllib.parse import unquote

from digest.links import read_token


def assert_link_for(link: str, prefix: str, purpose: str, key: str, subscriber_id: int, email: str) -> None:
    """`link` is `prefix` followed by a token that reads back, signed with `key` for `purpose`,
    as the subscriber `subscriber_id` with the address `email`."""
    link = unquote(link)  # a mailto: subject is percent-encoded
    assert link.startswith(prefix), f"{link!r} does not start with {prefix!r}"
    claim = read_token(key, link.removeprefix(prefix), purpose)
    assert claim.subscriber_id == subscriber_id and claim.is_for(key, email), (link, claim)
