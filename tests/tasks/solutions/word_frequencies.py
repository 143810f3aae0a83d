import re
from collections import Counter
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    counts = Counter(w.lower() for w in re.findall(r"[A-Za-z]+", args["text"]))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [[word, n] for word, n in ranked[: args["k"]]]
