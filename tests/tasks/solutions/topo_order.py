import heapq
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    nodes = args["nodes"]
    after: dict[str, list[str]] = {v: [] for v in nodes}
    waiting = dict.fromkeys(nodes, 0)
    for u, v in args["edges"]:
        after[u].append(v)
        waiting[v] += 1
    ready = [v for v in nodes if waiting[v] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        u = heapq.heappop(ready)
        order.append(u)
        for v in after[u]:
            waiting[v] -= 1
            if waiting[v] == 0:
                heapq.heappush(ready, v)
    return order if len(order) == len(nodes) else None
