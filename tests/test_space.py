"""Spaces deployment: space.yaml equals the README's front matter, and both match requirements."""

from __future__ import annotations

import re

import yaml

from conftest import REPO


def front_matter() -> dict:
    text = (REPO / "README.md").read_text()
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, "README.md must start with a YAML front matter block (Spaces reads it)"
    return yaml.safe_load(m.group(1))


def test_space_yaml_is_the_readme_front_matter():
    space = yaml.safe_load((REPO / "space.yaml").read_text())
    assert front_matter() == space


def test_space_settings_match_the_code():
    space = yaml.safe_load((REPO / "space.yaml").read_text())
    assert space["sdk"] == "gradio" and (REPO / space["app_file"]).is_file()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", (REPO / "requirements.txt").read_text(), re.M))
    assert space["sdk_version"] == pins["gradio"]
    assert isinstance(space["python_version"], str)  # "3.10" would read as 3.1 unquoted
    assert space["license"] == "mit" and "MIT" in (REPO / "LICENSE").read_text()
    assert len(space["short_description"]) <= 60
