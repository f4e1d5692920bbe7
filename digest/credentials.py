"""Secrets, resolved once where a run starts (the CLI, the flow, the web app) and passed down.

No other library module reads the environment for a secret: the entry point calls
`resolve_secrets` with the environment it was given and, optionally, a fallback lookup for what
the environment leaves unset (the flow's Prefect Secret blocks: `flows/blocks.py`, since the
library does not import Prefect). The values are `SecretStr`, so a repr or a log line of a
`Secrets` shows stars, never the secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import BaseModel, ConfigDict, SecretStr

from digest.config import Config

# The link-signing key is the one secret whose variable is not named in the config file.
SIGNING_KEY_ENV = "DIGEST_SECRET_KEY"

# Asked with a secret's name (a field of `Secrets`) for a value the environment lacks; None: none.
Fallback = Callable[[str], str | None]


class Secrets(BaseModel):
    """Every secret a run may need; None where none was found (the stage that needs it says so)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signing_key: SecretStr | None = None  # signs every link (DIGEST_SECRET_KEY)
    smtp_password: SecretStr | None = None  # [mail.smtp] password_env
    imap_password: SecretStr | None = None  # [mail.imap] password_env
    dkim_key: SecretStr | None = None  # [mail] dkim_key_env: the PEM private key
    from_fallback: tuple[str, ...] = ()  # the names the fallback supplied, for the run's log


def secret_variables(config: Config) -> dict[str, str]:
    """Each secret this config uses → the environment variable that holds it."""
    mail = config.mail
    names = {"signing_key": SIGNING_KEY_ENV}
    if mail.smtp is not None and mail.smtp.password_env:
        names["smtp_password"] = mail.smtp.password_env
    if mail.imap is not None:
        names["imap_password"] = mail.imap.password_env
    if mail.dkim_selector and mail.dkim_domain and mail.dkim_key_env:
        names["dkim_key"] = mail.dkim_key_env
    return names


def resolve_secrets(config: Config, environ: Mapping[str, str], fallback: Fallback | None = None) -> Secrets:
    """The secrets `config` uses: from `environ`, else from `fallback`; an empty value counts as unset."""
    values: dict[str, SecretStr] = {}
    supplied: list[str] = []
    for name, variable in secret_variables(config).items():
        value = environ.get(variable) or None
        if value is None and fallback is not None:
            value = fallback(name) or None
            if value is not None:
                supplied.append(name)
        if value is not None:
            values[name] = SecretStr(value)
    return Secrets(**values, from_fallback=tuple(supplied))
