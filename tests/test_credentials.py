"""Secrets are resolved once, at the edge, from the environment given and a fallback; the library
never reads them itself."""

from __future__ import annotations

import ast
from pathlib import Path

from pydantic import SecretStr

from digest.config import Config
from digest.credentials import SIGNING_KEY_ENV, resolve_secrets

PACKAGE = Path(__file__).resolve().parent.parent / "digest"
# The command line is an edge; the gazetteer's cache folder is a location, not a secret.
READS_THE_ENVIRONMENT = {"cli.py", "cli_common.py", "gazetteer.py"}

SMTP_AND_IMAP = Config(mail={"smtp": {"host": "mail.example.org", "password_env": "MY_SMTP"},
                             "imap": {"host": "imap.example.org", "username": "u", "password_env": "MY_IMAP"},
                             "dkim_selector": "d1", "dkim_domain": "example.org", "dkim_key_env": "MY_DKIM"})


def test_each_secret_comes_from_the_variable_the_config_names():
    secrets = resolve_secrets(SMTP_AND_IMAP, {SIGNING_KEY_ENV: "k", "MY_SMTP": "s", "MY_IMAP": "i", "MY_DKIM": "d"})
    assert [s.get_secret_value() for s in (secrets.signing_key, secrets.smtp_password, secrets.imap_password,
                                           secrets.dkim_key)] == ["k", "s", "i", "d"]
    assert secrets.from_fallback == ()


def test_the_fallback_is_asked_only_for_what_the_environment_leaves_unset_or_empty():
    asked = []

    def fallback(name: str) -> str | None:
        asked.append(name)
        return {"smtp_password": "from-block"}.get(name)

    secrets = resolve_secrets(SMTP_AND_IMAP, {SIGNING_KEY_ENV: "k", "MY_SMTP": "", "MY_DKIM": "d"}, fallback)
    assert sorted(asked) == ["imap_password", "smtp_password"]
    assert secrets.smtp_password.get_secret_value() == "from-block" and secrets.imap_password is None
    assert secrets.from_fallback == ("smtp_password",)


def test_secrets_a_config_does_not_use_are_not_looked_up():
    secrets = resolve_secrets(Config(), {"DIGEST_SMTP_PASSWORD": "unused", "DIGEST_DKIM_PRIVATE_KEY": "unused"},
                              lambda name: f"block {name}")
    assert secrets.smtp_password is None and secrets.dkim_key is None
    assert secrets.signing_key.get_secret_value() == "block signing_key"


def test_a_secret_never_shows_in_a_repr_or_a_dump():
    secrets = resolve_secrets(SMTP_AND_IMAP, {SIGNING_KEY_ENV: "hunter2", "MY_SMTP": "hunter3"})
    smtp = SMTP_AND_IMAP.mail.smtp.with_password(secrets.smtp_password)
    assert "hunter" not in repr(secrets) + str(secrets.model_dump()) + repr(smtp) + str(smtp.model_dump())


def test_binding_a_password_makes_a_copy_and_leaves_the_config_without_one():
    smtp = SMTP_AND_IMAP.mail.smtp
    bound = smtp.with_password(SecretStr("s3cret"))
    assert bound.password == "s3cret" and bound.host == smtp.host
    assert smtp.password is None and smtp.with_password(None).password is None


def _environment_reads(path: Path) -> list[int]:
    """Lines of `path` that read os.environ or os.getenv."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                isinstance(node.value, ast.Name) and node.value.id == "os":
            lines.append(node.lineno)
    return lines


def test_no_library_module_reads_the_environment():
    readers = {path.name: lines for path in sorted(PACKAGE.rglob("*.py"))
               if (lines := _environment_reads(path)) and path.name not in READS_THE_ENVIRONMENT}
    assert readers == {}


def test_the_web_apps_block_lookup_asks_only_a_configured_prefect_server(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import blocks

    # Stands in for Secret.load: the point is whether a look-up is made at all.
    monkeypatch.setattr(blocks, "secret_from_block", lambda name: f"block {name}")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert blocks.secret_from_server_block("signing_key") is None
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert blocks.secret_from_server_block("signing_key") == "block signing_key"
