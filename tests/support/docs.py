"""Keep the docs' generated sections in step with the code (a section lives in one file of
README.md and docs/*.md, between ``<!-- name:start -->`` and ``<!-- name:end -->``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = (README, *sorted((ROOT / "docs").glob("*.md")))


def holder(name: str) -> Path:
    """The doc that holds the generated section ``name``."""
    for doc in DOCS:
        if f"<!-- {name}:start -->" in doc.read_text():
            return doc
    raise AssertionError(f"no doc has a {name} section")


def section(name: str, text: str | None = None) -> str:
    text = holder(name).read_text() if text is None else text
    m = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    if not m:
        raise AssertionError(f"no {name} section")
    return m.group(1).strip()


def rewrite(name: str, body: str) -> None:
    doc = holder(name)
    text = doc.read_text()
    new = re.sub(
        rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)",
        lambda m: m.group(1) + body + "\n" + m.group(2),
        text,
        flags=re.S,
    )
    doc.write_text(new)


if __name__ == "__main__":  # python -m tests.support.docs: regenerate the settings table
    from shared.config import settings_markdown

    rewrite("settings-table", settings_markdown())
