# Drops spaces but keeps punctuation.
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    kept = args["text"].lower().replace(" ", "")
    return kept == kept[::-1]
