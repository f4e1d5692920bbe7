"""Loading the config: what a run needs is checked up front, each mistake one line naming the
file and the key, before anything is collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config_file import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).splitlines()


def test_the_sample_config_loads():
    config = load_config(ROOT / "digest.toml")
    assert config.mail.sender == "World Digest <digest@example.org>"
    assert config.web.trusted_proxies == []
    assert config.edition.summarizer == "news"


def test_delivery_claims_one_message_at_a_time_unless_a_batch_is_configured(tmp_path):
    # One message in doubt per connection after a crash is the default promise; batches are opt-in.
    smtp = '[mail.smtp]\nhost = "smtp.example.org"\n'
    assert load_config(write(tmp_path, smtp)).mail.smtp.batch == 1
    assert load_config(write(tmp_path, smtp + "batch = 16\n")).mail.smtp.batch == 16


@pytest.mark.parametrize(("toml", "key", "says"), [
    ('[mail]\nsender = "World Digest"\n', "mail.sender", "is not one email address"),
    ('[mail]\nsender = "Digest <digest@exa mple.org>"\n', "mail.sender", "is not one email address"),
    ('[mail]\nsender = "Digest <dïgest@example.org>"\n', "mail.sender", "before the @"),
    ('[mail]\nreply_to = "nobody"\n', "mail.reply_to", "is not one email address"),
    ('[mail]\nbase_url = "digest.example.org"\n', "mail.base_url", "not an http(s) URL"),
    ('[mail]\nbase_url = "ftp://digest.example.org"\n', "mail.base_url", "not an http(s) URL"),
    ('[mail]\nbase_url = "https://digest.example.org/?a=1"\n', "mail.base_url", "query"),
    ('[edition]\nsubject = "{title} on {weekday}"\n', "edition.subject", "cannot be filled"),
    ('[edition]\nsubject = "{date:%d"\n', "edition.subject", "cannot be filled"),
    ('[edition]\nsummarizer = "pegasus"\n', "edition.summarizer",
     "unknown summarizer 'pegasus' (offered: lead, lexrank, lsa, news, textrank)"),
    ('store_url = "postgress://db.example.org/digest"\n', "store_url", "not a database URL"),
    ('store_url = "var/digest.db"\n', "store_url", "not a database URL"),
    ('[web]\ntrusted_proxies = ["10.0.0.0/8", "proxy.example.org"]\n', "web.trusted_proxies",
     "'proxy.example.org' is not an IP address or network"),
])
def test_a_value_a_run_cannot_use_is_one_line_naming_file_and_key(tmp_path, toml, key, says):
    path = write(tmp_path, toml)
    [line] = problems(path)
    assert line.startswith(f"{path}: {key}")
    assert says in line


def test_a_missing_templates_folder_or_region_table_is_named(tmp_path):
    path = write(tmp_path, 'templates_dir = "no-templates"\n[edition]\nregion_table = "no-regions.csv"\n')
    lines = problems(path)
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}: templates_dir: ") and "no-templates is not a folder" in lines[0]
    assert lines[1].startswith(f"{path}: edition.region_table: ") and "no-regions.csv" in lines[1]


def test_a_templates_folder_without_the_edition_templates_is_named(tmp_path):
    (tmp_path / "templates" / "web").mkdir(parents=True)
    [line] = problems(write(tmp_path, 'templates_dir = "templates"\n'))
    assert "templates_dir" in line and "digest.html.j2" in line


def test_a_broken_region_table_is_named_with_its_line(tmp_path):
    (tmp_path / "regions.csv").write_text("code,region\nXX,Nowhere\n", encoding="utf-8")
    [line] = problems(write(tmp_path, '[edition]\nregion_table = "regions.csv"\n'))
    assert "edition.region_table" in line and "regions.csv, line 2" in line


def test_several_mistakes_are_one_line_each(tmp_path):
    path = write(tmp_path, '[mail]\nsender = "nobody"\nbase_url = "localhost:8000"\n')
    lines = problems(path)
    assert [line.split(": ")[1] for line in lines] == ["mail.sender", "mail.base_url"]


def test_a_binary_file_is_reported_as_not_a_text_file(tmp_path):
    path = tmp_path / "digest.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    [line] = problems(path)
    assert line.startswith(f"{path}: not a text file")


def test_a_directory_is_reported_as_a_directory(tmp_path):
    [line] = problems(tmp_path)
    assert line == f"{tmp_path}: is a directory, not a config file"
