from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    return " ".join(reversed(args["text"].split()))
