"""The README's Binder badge follows the repository's one declared place (issue 12)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import binder_badge  # noqa: E402


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/sse_widgets", "acme/sse_widgets"),
        ("https://github.com/acme/sse_widgets.git", "acme/sse_widgets"),
        ("git@github.com:acme/sse-widgets.git", "acme/sse-widgets"),
        ("ssh://git@github.com/acme/sse.widgets/", "acme/sse.widgets"),
        ("https://gitlab.com/acme/sse_widgets", None),
        ("/srv/git/sse_widgets", None),
    ],
)
def test_github_repository_is_read_from_each_url_form(url, expected):
    assert binder_badge.github_repository(url) == expected


def test_the_readme_badge_agrees_with_the_declared_repository():
    assert binder_badge.main(["--check"]) == 0


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_the_badge_follows_the_git_remote_when_pyproject_names_none(tmp_path):
    root = _copy(tmp_path)
    remote = "git@github.com:someone/fork-of-sse.git"
    subprocess.run(["git", "-C", str(root), "remote", "add", "origin", remote], check=True)
    # a clone's remote is only a hint for --check (a fork's CI must not fail on it)
    assert binder_badge.main(["--check"], root=root) == 0
    assert binder_badge.main(["--write"], root=root) == 0
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "https://mybinder.org/v2/gh/someone/fork-of-sse/HEAD?urlpath=" in readme
    assert binder_badge.main(["--check"], root=root) == 0


def test_pyproject_repository_wins_over_the_remote(tmp_path):
    root = _copy(tmp_path)
    subprocess.run(
        ["git", "-C", str(root), "remote", "add", "origin", "https://github.com/a/b"], check=True
    )
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert "[project.urls]" not in text or "Repository" not in text
    pyproject.write_text(
        text.replace(
            "[project.optional-dependencies]",
            '[project.urls]\nRepository = "https://github.com/owner-x/repo-y"\n\n'
            "[project.optional-dependencies]",
            1,
        ),
        encoding="utf-8",
    )
    assert binder_badge.repository(root)[0] == "owner-x/repo-y"
    assert binder_badge.main(["--check"], root=root) == 1  # the declared place disagrees
    binder_badge.main(["--write"], root=root)
    assert binder_badge.main(["--check"], root=root) == 0
    assert "/gh/owner-x/repo-y/HEAD" in (root / "README.md").read_text(encoding="utf-8")
