"""Keep the README's generated sections in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def section(name: str, text: str | None = None) -> str:
    text = README.read_text() if text is None else text
    m = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    if not m:
        raise AssertionError(f"README has no {name} section")
    return m.group(1).strip()


def rewrite(name: str, body: str) -> None:
    text = README.read_text()
    new = re.sub(
        rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)",
        lambda m: m.group(1) + body + "\n" + m.group(2),
        text,
        flags=re.S,
    )
    README.write_text(new)


if __name__ == "__main__":  # python -m tests.support.docs: regenerate the settings table
    from shared.config import settings_markdown

    rewrite("settings-table", settings_markdown())
