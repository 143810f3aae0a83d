import re
from typing import Any

STEP = re.compile(r"\.([^.\[\]]+)|\[(0|[1-9][0-9]*)\]")
MISSING = object()


def main(args: dict[str, Any], host: Any) -> Any:
    path = args["path"]
    value = args["data"]
    pos = 0
    first = re.match(r"[^.\[\]]+", path)
    if first:
        value = value.get(first.group(0), MISSING) if isinstance(value, dict) else MISSING
        pos = first.end()
    while pos < len(path) and value is not MISSING:
        step = STEP.match(path, pos)
        assert step is not None  # paths are well formed
        key, index = step.group(1), step.group(2)
        if key is not None:
            value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
        elif isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            value = MISSING
        pos = step.end()
    return None if value is MISSING else value
