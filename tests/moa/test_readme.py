"""The README's MOA examples run as written (documentation that is true)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_moa_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    moa_blocks = [b for b in blocks if "agent_ecology.moa" in b and "transformers" not in b]
    assert moa_blocks, "the README has no MOA example"
    for block in moa_blocks:
        exec(compile(block, str(README), "exec"), {})  # our own README
