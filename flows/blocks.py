"""Prefect Secret blocks as the fallback for secrets the environment leaves unset.

`digest.credentials.resolve_secrets` takes the lookup made here; the library itself does not
import Prefect. Only the secrets named in `SECRET_BLOCKS` have a block.
"""

from __future__ import annotations

# A `digest.credentials.Secrets` field → the Secret block that may hold it.
SECRET_BLOCKS = {"signing_key": "digest-secret-key", "smtp_password": "digest-smtp-password"}


def secret_from_block(name: str) -> str | None:
    """The value of the Secret block for the secret `name`; None when there is no such block."""
    block = SECRET_BLOCKS.get(name)
    if block is None:
        return None
    from prefect.blocks.system import Secret  # here: importing Prefect takes seconds

    try:
        secret = Secret.load(block)
    except ValueError:  # no such block
        return None
    return str(secret.get())


def secret_from_server_block(name: str) -> str | None:
    """`secret_from_block` when Prefect is installed and a Prefect server is configured
    (PREFECT_API_URL); else None. For commands that are not flow runs (`digest web`): without a
    server, a look-up would start Prefect's temporary API just for this."""
    try:
        from prefect.settings import get_current_settings
    except ImportError:
        return None
    return secret_from_block(name) if get_current_settings().api.url else None
