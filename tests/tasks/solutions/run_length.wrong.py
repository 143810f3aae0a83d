# Counts each character over the whole text instead of each run.
from collections import Counter
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    return "".join(f"{c}{n}" for c, n in Counter(args["text"]).items())
