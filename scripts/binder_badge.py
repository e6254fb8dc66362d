"""Keep the README's Binder badge pointing at this repository.

The repository comes from one place: ``[project.urls] Repository`` in pyproject.toml (also what
PyPI shows); when that is not set, from ``git remote get-url origin``. Only GitHub
repositories can be launched on mybinder.org with a ``gh/`` link.

    python scripts/binder_badge.py           # print the owner/repo found, or why none
    python scripts/binder_badge.py --write   # rewrite the badge in README.md  (make binder-badge)
    python scripts/binder_badge.py --check   # exit 1 if README.md's badge disagrees with
                                             # pyproject's Repository (make lint)

With neither source set, the badge keeps the placeholder ``OWNER/REPO`` and ``--check`` passes,
printing how to set it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "OWNER/REPO"
NOTEBOOK = "lab%2Ftree%2Fnotebooks%2Fquickstart.ipynb"
_BADGE = re.compile(r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\([^)]*\)")
_GITHUB = re.compile(
    r"^(?:https?://|ssh://git@|git@|git://)(?:www\.)?github\.com[:/]"
    r"(?P<owner>[A-Za-z0-9-]+)/(?P<repo>[A-Za-z0-9._-]+?)(?:\.git)?/?$"
)


def github_repository(url: str) -> str | None:
    """``owner/repo`` of a GitHub URL (https, ssh or scp-like), else None.

    >>> github_repository("git@github.com:jupyter/notebook.git")
    'jupyter/notebook'
    >>> github_repository("https://gitlab.com/a/b") is None
    True
    """
    match = _GITHUB.match(url.strip())
    return f"{match['owner']}/{match['repo']}" if match else None


def repository(root: Path = ROOT) -> tuple[str | None, str]:
    """The repository to badge, and where it came from (or why there is none)."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    declared = pyproject.get("project", {}).get("urls", {}).get("Repository")
    if declared:
        found = github_repository(declared)
        if found is None:
            return None, f"[project.urls] Repository = {declared!r} is not a GitHub URL"
        return found, "[project.urls] Repository in pyproject.toml"
    try:
        remote = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        remote = ""
    if remote:
        found = github_repository(remote)
        if found is not None:
            return found, f"git remote origin ({remote})"
        return None, f"git remote origin ({remote}) is not on GitHub"
    return None, "neither [project.urls] Repository (pyproject.toml) nor a git remote is set"


def badge(owner_repo: str) -> str:
    """The README's badge line for ``owner/repo``."""
    return (
        "[![Binder](https://mybinder.org/badge_logo.svg)]"
        f"(https://mybinder.org/v2/gh/{owner_repo}/HEAD?urlpath={NOTEBOOK})"
    )


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the badge in README.md")
    parser.add_argument("--check", action="store_true", help="fail if README.md disagrees")
    args = parser.parse_args(argv)
    found, source = repository(root)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    current = _BADGE.search(text)
    if current is None:
        print("README.md has no Binder badge line", file=sys.stderr)
        return 1
    expected = badge(found or PLACEHOLDER)
    if found is None:
        print(
            f"binder badge: {source}; the badge keeps {PLACEHOLDER}. Set Repository under "
            "[project.urls] in pyproject.toml (https://github.com/<owner>/<repo>) and run "
            "`make binder-badge`."
        )
    else:
        print(f"binder badge: {found} (from {source})")
    if args.write and current.group() != expected:
        readme.write_text(text.replace(current.group(), expected, 1), encoding="utf-8")
        print("README.md: badge updated")
    elif args.check and current.group() != expected and source.startswith("git remote"):
        # A clone's remote is a hint, not the declared place: a fork's CI must not fail on it.
        print(f"README.md's Binder badge could point at {found}: run `make binder-badge`")
    elif args.check and current.group() != expected:
        print(
            f"README.md's Binder badge does not point at {found or PLACEHOLDER}; run "
            "`make binder-badge`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
