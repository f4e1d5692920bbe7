"""The installable package: a wheel that carries its templates and sample, and `digest init`.

The full proof, a wheel installed in a fresh venv outside the checkout running `digest init`
and `digest run`, is the CI step `.ci/wheel-smoke`; these tests check its parts quickly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app
from digest.config_file import load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of the checkout (the build leaves build/ behind)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "out", "var", "build", "dist", "node_modules", "*.egg-info", "__pycache__",
        ".pytest_cache", "docs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(source)], check=True, capture_output=True)
    return next((tmp / "dist").glob("regional_digest-*.whl"))


def test_the_wheel_carries_all_code_and_every_template_and_sample_file_inside_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {f"digest/templates/{p.relative_to(ROOT / 'templates').as_posix()}"
                 for p in (ROOT / "templates").rglob("*") if p.is_file()}
    sample = {f"digest/sample/{p.relative_to(ROOT / 'sample').as_posix()}"
              for p in (ROOT / "sample").rglob("*") if p.is_file() and p.suffix != ".py"}
    code = {p.relative_to(ROOT).as_posix() for folder in ("digest", "flows") for p in (ROOT / folder).rglob("*.py")}
    assert code <= names, sorted(code - names)  # a new subpackage must join pyproject's package list
    assert templates and templates <= names, sorted(templates - names)
    assert sample and sample <= names, sorted(sample - names)
    assert {"digest/data/starter.toml", "digest/data/regions.csv", "digest/migrations/script.py.mako",
            "flows/daily_digest.py"} <= names
    assert any(n.startswith("digest/migrations/versions/0001") for n in names)
    assert not any(n.startswith(("templates/", "sample/", "tests/")) for n in names)


def test_the_unpacked_wheel_finds_its_templates_inside_itself_and_inits_a_folder(wheel, tmp_path):
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    found = subprocess.run(
        [sys.executable, "-c", "import digest.config as c; print(c.DEFAULT_TEMPLATES); print(c.SAMPLE_DIR)"],
        cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert found == [str(unpacked / "digest" / "templates"), str(unpacked / "digest" / "sample")]
    subprocess.run([sys.executable, "-m", "digest.cli", "init", "site"], cwd=elsewhere, env=env,
                   check=True, capture_output=True)
    assert (elsewhere / "site" / "sample" / "feeds" / "world.rss").is_file()


def test_a_checkout_uses_its_top_level_templates(tmp_path):
    from digest.config import DEFAULT_TEMPLATES, SAMPLE_DIR

    assert DEFAULT_TEMPLATES == ROOT / "templates"
    assert SAMPLE_DIR == ROOT / "sample"


def test_init_writes_a_commented_config_whose_sources_and_subscribers_are_all_there(tmp_path):
    result = CliRunner().invoke(app, ["init", str(tmp_path / "news")])
    assert result.exit_code == 0, result.output
    assert "digest run --date 2017-10-18" in result.output
    config_file = tmp_path / "news" / "digest.toml"
    assert config_file.read_text(encoding="utf-8").startswith("# A starter configuration")
    config = load_config(config_file)
    assert [s.name for s in config.sources] == ["Sample World News", "Sample Wire", "Article files"]
    assert all(Path(s.url).exists() for s in config.sources)
    assert config.subscribers_file.is_file()
    assert config.output_dir == tmp_path / "news" / "out"
    assert (tmp_path / "news" / "sample" / "CREDITS.md").is_file()  # the CC BY attribution travels along
    assert not list((tmp_path / "news").rglob("*.py"))


def test_init_keeps_an_existing_config_unless_forced(tmp_path):
    (tmp_path / "digest.toml").write_text("# mine\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert refused.exit_code == 2
    assert "digest.toml already exist" in refused.output and "--force" in refused.output
    assert (tmp_path / "digest.toml").read_text(encoding="utf-8") == "# mine\n"
    forced = CliRunner().invoke(app, ["init", str(tmp_path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_config(tmp_path / "digest.toml").sources
