"""One home for settings: every LIGHTCLIP_* variable is in settings.SETTINGS, read only through
settings.get, and docs/SETTINGS.md is that table."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from lightclip_core import LightCLIPError, settings


def _sources() -> list:
    return sorted((REPO / "lightclip_core").rglob("*.py")) + [REPO / "app.py"]


def test_every_variable_the_code_names_is_in_the_table():
    named = {m for p in _sources() for m in re.findall(r"LIGHTCLIP_[A-Z0-9_]+", p.read_text())}
    named |= {m for p in sorted((REPO / "tests").glob("*.py")) for m in re.findall(r"LIGHTCLIP_[A-Z0-9_]+", p.read_text())}
    assert named - set(settings.SETTINGS) == set()


def test_no_module_reads_one_but_settings():
    read = re.compile(r"""environ\.get\(\s*["']LIGHTCLIP_[A-Z0-9_]+|environ\[["']LIGHTCLIP_[A-Z0-9_]+["']\](?!\s*=[^=])""")
    offenders = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in _sources() if p.name != "settings.py"
                 for m in read.finditer(p.read_text())]
    assert offenders == []


def test_the_docs_page_is_the_table():
    page = (REPO / "docs" / "SETTINGS.md").read_text()
    inside = page.split("<!-- settings-table:start -->\n")[1].split("\n<!-- settings-table:end -->")[0]
    assert inside == settings.markdown_table()


def test_values_are_read_at_call_time_and_bad_ones_are_one_sentence(monkeypatch):
    monkeypatch.setenv("LIGHTCLIP_SEARCH_BATCH", "3")
    assert settings.get("LIGHTCLIP_SEARCH_BATCH") == 3
    monkeypatch.delenv("LIGHTCLIP_SEARCH_BATCH")
    assert settings.get("LIGHTCLIP_SEARCH_BATCH") == 16
    monkeypatch.setenv("LIGHTCLIP_PRELOAD", "0")
    assert settings.get("LIGHTCLIP_PRELOAD") is False
    assert settings.get("LIGHTCLIP_HUB_REPO") is None or isinstance(settings.get("LIGHTCLIP_HUB_REPO"), str)
    for bad in ("many", "-1", "nan"):
        monkeypatch.setenv("LIGHTCLIP_TEXT_CACHE_SIZE", bad)
        with pytest.raises(LightCLIPError, match="LIGHTCLIP_TEXT_CACHE_SIZE must be a whole number"):
            settings.get("LIGHTCLIP_TEXT_CACHE_SIZE")
