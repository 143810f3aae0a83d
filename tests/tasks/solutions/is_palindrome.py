from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    kept = [c.lower() for c in args["text"] if c.isalnum()]
    return kept == kept[::-1]
