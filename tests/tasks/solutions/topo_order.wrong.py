# A depth-first search with a visited set: it never notices a cycle.
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    after: dict[str, list[str]] = {v: [] for v in args["nodes"]}
    for u, v in args["edges"]:
        after[u].append(v)
    seen = set()
    order = []

    def visit(u: str) -> None:
        if u in seen:
            return
        seen.add(u)
        for v in after[u]:
            visit(v)
        order.append(u)

    for v in args["nodes"]:
        visit(v)
    return order[::-1]
