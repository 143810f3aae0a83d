"""The baseline policy: a zero-intelligence agent, used when there is no model to think with.

In the sense of Gode and Sunder (1993), "zero-intelligence" traders choose at random among
the actions their budget allows, with no learning and no strategy; what order emerges then
comes from the market's rules, not from the traders. Here, each turn the policy picks a
random action that its balances make feasible (a transfer no larger than its scrip, an
artifact that fits its disk, ...) and writes it as JSON text, exactly as a model would, so
that the reply goes through the same parser, kernel and charges as any other. It reads no
text: it uses the structured observation the prompt was rendered from.

On genesis_exchange it trades as Gode and Sunder's ZI-C ("with constraint"): it values each
good from its own situation (:func:`value_per_lot`) and bids at random at or below that value,
or asks at random at or above it, so that no trade it makes is at a loss to itself by its own
measure; the market's rules do the rest.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from typing import Any

from agent_ecology.llm.types import Completion, CompletionRequest, Usage

__all__ = ["ZeroIntelligencePolicy", "value_per_lot"]

_WORDS = [
    "offer",
    "bid",
    "ask",
    "price",
    "trade",
    "data",
    "model",
    "plan",
    "report",
    "tool",
    "index",
    "note",
    "list",
    "summary",
    "result",
    "compute",
    "disk",
    "scrip",
    "market",
    "escrow",
    "oracle",
    "quota",
    "share",
    "rent",
    "loan",
    "debt",
    "signal",
]
_GENESIS = ("genesis_ledger", "genesis_event_log", "genesis_handbook")

# The programs the policy writes: correct tools, a contract, a stateful counter, programs
# that fail at run time, one that does not compile, and a runaway loop, so that an offline
# run exercises every path of the sandbox (a result, an exception, the fuel limit, a refusal
# on write) and compute really binds. Each takes the generic args the policy sends
# ({"xs": [...], "text": "..."}) and tolerates their absence.
SNIPPETS: dict[str, str] = {
    "sum": "def main(args, host):\n    return sum(args.get('xs', []))\n",
    "wordcount": (
        "def main(args, host):\n"
        "    words = args.get('text', '').split()\n"
        "    return {'words': len(words), 'distinct': len(set(words))}\n"
    ),
    "sorter": "def main(args, host):\n    return sorted(args.get('xs', []))\n",
    "primes": (
        "def main(args, host):\n"
        "    n = min(int(args.get('n', 20000)), 200000)\n"
        "    sieve = bytearray([1]) * (n + 1)\n"
        "    for i in range(2, int(n ** 0.5) + 1):\n"
        "        if sieve[i]:\n"
        "            sieve[i * i :: i] = bytes(len(range(i * i, n + 1, i)))\n"
        "    return sum(sieve[2:])\n"
    ),
    "counter": (
        "def main(args, host):\n"
        "    n = host.get('calls', 0) + 1\n"
        "    host.set('calls', n)\n"
        "    return {'calls': n, 'by': host.invoker}\n"
    ),
    "tip-jar": (
        "# a contract: forwards what it is paid to its owner, keeping a tally\n"
        "def main(args, host):\n"
        "    if host.paid:\n"
        "        host.transfer(host.owner, host.paid)\n"
        "    host.set('tips', host.get('tips', 0) + host.paid)\n"
        "    return {'forwarded': host.paid}\n"
    ),
    "crasher": "def main(args, host):\n    return args['missing'] / 0\n",
    "broken": "def main(args, host)\n    return 1\n",  # a syntax error: refused on write
    "runaway": "def main(args, host):\n    while True:\n        pass\n",
}


# Solutions the policy submits to the shipped tasks (genesis/tasks): right ones, and wrong
# ones of each kind the world must refuse (a wrong answer, an exception, a runaway that runs
# out of fuel, an import the sandbox does not allow), so that an offline run mints by tasks
# and fails submissions. A task without one here gets a random program of the policy's.
TASK_SNIPPETS: dict[str, str] = {
    # right
    "reverse_words": "def main(args, host):\n    return ' '.join(reversed(args['text'].split()))\n",
    "fizzbuzz": (
        "def main(args, host):\n"
        "    return ['Fizz' * (i % 3 == 0) + 'Buzz' * (i % 5 == 0) or str(i)\n"
        "            for i in range(1, args['n'] + 1)]\n"
    ),
    "is_palindrome": (
        "def main(args, host):\n"
        "    s = [c.lower() for c in args['text'] if c.isalnum()]\n"
        "    return s == s[::-1]\n"
    ),
    "balanced_brackets": (
        "def main(args, host):\n"
        "    stack, close = [], {')': '(', ']': '[', '}': '{'}\n"
        "    for c in args['text']:\n"
        "        if c in '([{':\n"
        "            stack.append(c)\n"
        "        elif c in close and (not stack or stack.pop() != close[c]):\n"
        "            return False\n"
        "    return not stack\n"
    ),
    # wrong: an answer that is not right for every case
    "run_length": (
        "def main(args, host):\n"
        "    text = args['text']\n"
        "    return ''.join(c + str(text.count(c)) for c in dict.fromkeys(text))\n"
    ),
    # an exception
    "merge_intervals": "def main(args, host):\n    return sorted(args['ranges'])\n",
    # a runaway: trial division runs out of fuel on the big cases
    "count_primes": (
        "def main(args, host):\n"
        "    n = args['n']\n"
        "    return sum(all(k % d for d in range(2, k)) for k in range(2, n + 1))\n"
    ),
    # an import the sandbox does not allow
    "csv_rows": "import csv\n\ndef main(args, host):\n    return list(csv.reader(args['text']))\n",
}


def _need(fill: float) -> float:
    """How much an agent wants more of what it holds ``fill`` (0: empty, 1: full; below 0:
    in debt) of: from 0.2 (full) to 3 (empty or in debt)."""
    return 0.2 + 2.8 * min(1.0, max(0.0, 1.0 - fill))


def value_per_lot(obs: Mapping[str, Any], good: str, lot: float) -> tuple[float, float]:
    """What one lot of ``good`` is worth to the agent of ``obs``, in scrip, and how many lots
    it could spare (0: none). The whole of what it holds of a resource is worth its scrip
    (at least 10) times its need: an empty bucket or a full disk makes each lot dear, a full
    bucket or an unused quota cheap; a rate is valued as its bucket is, a lot being that part
    of the agent's rate."""
    resource, side = good.split(":")
    scrip = max(10.0, float(obs.get("scrip", 0)))
    if side == "capacity":
        quota = float((obs.get("quota") or {}).get(resource, 0.0))
        free = float((obs.get("stock") or {}).get(resource, 0.0))
        if quota <= 0:
            return scrip / 100 * _need(0.0), 0.0
        used = 1.0 - free / quota
        spare = free - 0.5 * quota if used < 0.5 else 0.0
        # Its free quota is what it holds: a full disk (little free) makes each lot dear.
        return scrip * _need(free / quota) * min(1.0, lot / quota), max(0.0, spare) / lot
    capacity = float((obs.get("capacity") or {}).get(resource, 0.0))
    rate = float((obs.get("rate") or {}).get(resource, 0.0))
    held = float((obs.get("flow") or {}).get(resource, 0.0))
    fill = held / capacity if capacity > 0 else 0.0
    whole = capacity if side == "units" else rate
    # A lot is worth its share of the whole, and never more than the whole (a tiny rate).
    value = scrip * _need(fill) * min(1.0, lot / whole) if whole > 0 else scrip / 100 * _need(0.0)
    if fill < 0.7:  # it keeps what it holds until its bucket is well stocked
        return value, 0.0
    spare = (held - 0.5 * capacity) if side == "units" else 0.2 * rate
    return value, max(0.0, spare) / lot


class ZeroIntelligencePolicy:
    """Random feasible actions, as JSON text; costs no dollars and reports no tokens."""

    model = "baseline-zero-intelligence"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._made = 0

    @property
    def name(self) -> str:
        return "the baseline policy (zero-intelligence, Gode & Sunder 1993; no model)"

    async def complete(self, request: CompletionRequest) -> Completion:
        action = self.choose(request.observation)
        return Completion(json.dumps(action), Usage(0, 0), self.model, "stop")

    async def aclose(self) -> None:
        return None

    def choose(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """One random action that the agent's balances allow."""
        rng = self._rng
        me = str(obs.get("agent_id", "agent"))
        scrip = int(obs.get("scrip", 0))
        stock = obs.get("stock", {}) or {}
        disk = float(stock.get("disk", 0.0)) if "disk" in stock else 10_000.0
        own = list(obs.get("own_artifacts", []) or [])
        others = list(obs.get("others", []) or [])
        options: list[tuple[float, dict[str, Any]]] = [
            (1.0, {"action": "noop", "reason": "zero-intelligence: idle this turn"}),
            (1.0, {"action": "query", "what": "balances"}),
            (
                1.0,
                {
                    "action": "invoke",
                    "artifact_id": "genesis_event_log",
                    "method": "read",
                    "args": {"limit": rng.randint(1, 10)},
                },
            ),
            (
                0.5,
                {"action": "read_artifact", "artifact_id": rng.choice([*_GENESIS, *own])},
            ),
            (0.5, {"action": "note", "text": self._words(rng.randint(2, 8))}),
            (0.5, {"action": "sleep", "seconds": round(rng.uniform(0.5, 3.0), 2)}),
        ]
        if scrip > 0 and others:
            amount = rng.randint(1, max(1, scrip // 2))
            options.append(
                (
                    2.0,
                    {
                        "action": "invoke",
                        "artifact_id": "genesis_ledger",
                        "method": "transfer",
                        "args": {"to": rng.choice(others), "amount": amount},
                    },
                )
            )
        if disk >= 16:
            size = rng.randint(8, int(min(disk, 400)))
            self._made += 1
            options.append(
                (
                    1.5,
                    {
                        "action": "write_artifact",
                        "artifact_id": f"{me}/zi-{self._made}",
                        "content": self._words(max(1, size // 6))[:size],
                    },
                )
            )
        options.append(
            (
                0.2,
                {
                    "action": "invoke",
                    "artifact_id": "genesis_rights_registry",
                    "method": rng.choice(["check_quota", "tokenize_config_right"]),
                    "args": {},
                },
            )
        )
        if others:
            options.append(
                (
                    0.3,
                    {
                        "action": "invoke",
                        "artifact_id": "genesis_debt",
                        "method": "issue",
                        "args": {
                            "creditor_id": rng.choice(others),
                            "principal": rng.randint(1, 20),
                            "interest_rate": rng.choice([0, 0.1, 0.2]),
                            "due_in": rng.randint(30, 300),
                        },
                    },
                )
            )
        for debt_id in obs.get("debt_offers", []) or []:
            options.append(
                (
                    1.0,
                    {
                        "action": "invoke",
                        "artifact_id": "genesis_debt",
                        "method": "accept",
                        "args": {"debt_id": debt_id},
                    },
                )
            )
        for debt_id in obs.get("debts_owed", []) or []:
            if scrip > 0:
                options.append(
                    (
                        0.5,
                        {
                            "action": "invoke",
                            "artifact_id": "genesis_debt",
                            "method": "repay",
                            "args": {"debt_id": debt_id, "amount": rng.randint(1, min(scrip, 20))},
                        },
                    )
                )
        affordable = [x for x in obs.get("for_sale", []) or [] if int(x["price"]) <= scrip]
        if affordable:
            pick = rng.choice(affordable)
            options.append(
                (
                    1.0,
                    {
                        "action": "invoke",
                        "artifact_id": "genesis_escrow",
                        "method": "purchase",
                        "args": {"listing_id": pick["listing_id"]},
                    },
                )
            )
        if own:
            options.append(
                (
                    0.5,
                    {
                        "action": "invoke",
                        "artifact_id": "genesis_escrow",
                        "method": "deposit",
                        "args": {"artifact_id": rng.choice(own), "price": rng.randint(1, 20)},
                    },
                )
            )
            options.append((0.7, {"action": "delete_artifact", "artifact_id": rng.choice(own)}))
            if scrip > 0:
                options.append(
                    (
                        0.5,
                        {
                            "action": "invoke",
                            "artifact_id": "genesis_oracle",
                            "method": "bid",
                            "args": {
                                "artifact_id": rng.choice(own),
                                "amount": rng.randint(1, max(1, min(scrip, 10))),
                            },
                        },
                    )
                )
            if others:
                options.append(
                    (
                        0.3,
                        {
                            "action": "invoke",
                            "artifact_id": "genesis_ledger",
                            "method": "transfer_ownership",
                            "args": {"artifact_id": rng.choice(own), "to": rng.choice(others)},
                        },
                    )
                )
        options += self._exchange_options(rng, scrip, obs)
        options += self._program_options(rng, me, scrip, obs, others)
        options += self._task_options(rng, me, obs)
        weights = [w for w, _ in options]
        return rng.choices([a for _, a in options], weights=weights, k=1)[0]

    def _exchange_options(
        self, rng: random.Random, scrip: int, obs: Mapping[str, Any]
    ) -> list[tuple[float, dict[str, Any]]]:
        """ZI-C on genesis_exchange: a bid at or below its value, an ask at or above it."""
        options: list[tuple[float, dict[str, Any]]] = []
        for good, quote in sorted((obs.get("exchange") or {}).items()):
            lot = float(quote.get("lot") or 0.0)
            if lot <= 0:
                continue
            value, spare = value_per_lot(obs, good, lot)
            order = {"good": good, "expires_in": rng.choice([20, 60, 120])}
            top = math.floor(value)
            if top >= 1 and scrip >= 1:
                price = rng.randint(1, top)
                most = min(5, scrip // price)
                if most >= 1:
                    bid = {**order, "quantity": rng.randint(1, most), "price": price}
                    options.append((0.4, _exchange("bid", bid)))
            if spare >= 1:
                floor = max(1, math.ceil(value))
                price = rng.randint(floor, 2 * floor + 1)
                ask = {**order, "quantity": rng.randint(1, min(5, int(spare))), "price": price}
                options.append((0.4, _exchange("ask", ask)))
        return options

    def _program_options(
        self,
        rng: random.Random,
        me: str,
        scrip: int,
        obs: Mapping[str, Any],
        others: list[str],
    ) -> list[tuple[float, dict[str, Any]]]:
        """Writing programs, invoking others', funding and freezing them (when programs run)."""
        if "programs" not in obs:
            return []
        mine = list(obs.get("own_programs", []) or [])
        options: list[tuple[float, dict[str, Any]]] = []
        name = rng.choice(sorted(SNIPPETS))
        options.append(
            (
                1.0 if len(mine) < 6 else 0.2,
                {
                    "action": "write_artifact",
                    "artifact_id": f"{me}/{name}",
                    "content": SNIPPETS[name],
                    "executable": True,
                    "price": rng.randint(0, 3),
                },
            )
        )
        theirs = list(obs.get("programs", []) or [])
        affordable = [p for p in theirs if int(p["price"]) <= scrip]
        if affordable:
            pick = rng.choice(affordable)
            options.append(
                (
                    2.0,
                    {
                        "action": "invoke",
                        "artifact_id": pick["id"],
                        "args": {
                            "xs": [rng.randint(0, 99) for _ in range(rng.randint(0, 8))],
                            "text": self._words(rng.randint(1, 12)),
                            "n": rng.randint(100, 50000),
                        },
                        "pay": int(pick["price"]) + rng.randint(0, min(2, scrip - pick["price"])),
                    },
                )
            )
            if scrip > 1:
                options.append(
                    (
                        0.3,
                        {
                            "action": "invoke",
                            "artifact_id": "genesis_ledger",
                            "method": "transfer",
                            "args": {"to": pick["id"], "amount": rng.randint(1, min(scrip, 5))},
                        },
                    )
                )
        unfrozen = [p["id"] for p in mine if not p.get("frozen")]
        if unfrozen:
            options.append(
                (
                    0.2,
                    {
                        "action": "invoke",
                        "artifact_id": "genesis_ledger",
                        "method": "freeze",
                        "args": {"artifact_id": rng.choice(unfrozen)},
                    },
                )
            )
        return options

    def _task_options(
        self, rng: random.Random, me: str, obs: Mapping[str, Any]
    ) -> list[tuple[float, dict[str, Any]]]:
        """Reading tasks, writing solutions (right or wrong) and submitting them."""
        tasks = [t["task_id"] for t in obs.get("tasks", []) or []]
        if not tasks or "programs" not in obs:
            return []
        mine = {p["id"] for p in obs.get("own_programs", []) or []}
        options: list[tuple[float, dict[str, Any]]] = []
        task = rng.choice(tasks)
        options.append(
            (
                0.3,
                {
                    "action": "invoke",
                    "artifact_id": "genesis_tasks",
                    "method": "read",
                    "args": {"task_id": task},
                },
            )
        )
        solvable = [t for t in tasks if t in TASK_SNIPPETS]
        if solvable:
            task = rng.choice(solvable)
            solution = f"{me}/task-{task}"
            if solution not in mine:
                options.append(
                    (
                        1.5,
                        {
                            "action": "write_artifact",
                            "artifact_id": solution,
                            "content": TASK_SNIPPETS[task],
                            "executable": True,
                            "price": 0,
                        },
                    )
                )
            else:
                options.append((2.0, self._submit(task, solution)))
        if mine:  # a program written for something else: mostly wrong, or it crashes
            options.append((0.4, self._submit(rng.choice(tasks), rng.choice(sorted(mine)))))
        return options

    @staticmethod
    def _submit(task: str, artifact: str) -> dict[str, Any]:
        return {
            "action": "invoke",
            "artifact_id": "genesis_tasks",
            "method": "submit",
            "args": {"task_id": task, "artifact_id": artifact},
        }

    def _words(self, n: int) -> str:
        return " ".join(self._rng.choice(_WORDS) for _ in range(n))


def _exchange(method: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"action": "invoke", "artifact_id": "genesis_exchange", "method": method, "args": args}
