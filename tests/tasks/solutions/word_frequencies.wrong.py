# most_common breaks ties by first appearance, not alphabetically.
import re
from collections import Counter
from typing import Any


def main(args: dict[str, Any], host: Any) -> Any:
    counts = Counter(w.lower() for w in re.findall(r"[A-Za-z]+", args["text"]))
    return [[word, n] for word, n in counts.most_common(args["k"])]
