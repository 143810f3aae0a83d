# Splits the path on ".", "[" and "]" and lets the data decide what a step means, so
# "[0]" reads the key "0" of a mapping, ".0" indexes a list, and "" finds nothing.
import re
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    value = args["data"]
    for part in [p for p in re.split(r"[.\[\]]", args["path"]) if p] or [""]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
