from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    merged: list[list[int]] = []
    for a, b in sorted(args["intervals"]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged
