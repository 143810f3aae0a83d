"""The README's SQL examples run against a database at the head revision."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_queries_run(db_path: Path) -> None:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
    statements = [s.strip() for block in blocks for s in block.split(";") if s.strip()]
    statements = [
        s for s in statements if not all(line.startswith("--") for line in s.splitlines())
    ]
    assert len(statements) >= 3
    with sqlite3.connect(db_path) as conn:
        for statement in statements:
            conn.execute(statement).fetchall()  # raises on a wrong view or column
