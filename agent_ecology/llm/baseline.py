"""The baseline policy: a zero-intelligence agent, used when there is no model to think with.

In the sense of Gode and Sunder (1993), "zero-intelligence" traders choose at random among
the actions their budget allows, with no learning and no strategy; what order emerges then
comes from the market's rules, not from the traders. Here, each turn the policy picks a
random action that its balances make feasible (a transfer no larger than its scrip, an
artifact that fits its disk, ...) and writes it as JSON text, exactly as a model would, so
that the reply goes through the same parser, kernel and charges as any other. It reads no
text: it uses the structured observation the prompt was rendered from.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from agent_ecology.llm.types import Completion, CompletionRequest, Usage

__all__ = ["ZeroIntelligencePolicy"]

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
        weights = [w for w, _ in options]
        return rng.choices([a for _, a in options], weights=weights, k=1)[0]

    def _words(self, n: int) -> str:
        return " ".join(self._rng.choice(_WORDS) for _ in range(n))
