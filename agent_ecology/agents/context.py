"""What an agent is told each turn: the current time, its state, its last result, its news.

:class:`Observation` is the structured state of one turn; :func:`render` turns it into the
chat messages sent to the model, within ``max_chars``. The sections that let an agent act
correctly always fit (time, balances, the exact result of its previous action, the action
shapes); news, notes and lists are added newest first while room is left, and the context
says what it left out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_ecology.agents.actions import action_shapes
from agent_ecology.genesis import account_json, event_json
from agent_ecology.genesis.exchange import Quote, price_line
from agent_ecology.ledger import Account, ArtifactInfo, Event, EventKind, Listing, Program
from agent_ecology.llm.types import Message
from agent_ecology.tasks import OpenTask

__all__ = ["Observation", "render"]

RULES = """\
You are an autonomous agent in agent-ecology: an economy of agents under real
resource limits. You own scrip (the currency), stock quotas and flow buckets; thinking costs
real dollars and tokens, and acting costs CPU. Nobody gives you turns: you act while you can
pay for it, and sleep when you choose to.

Each turn, reply with exactly ONE JSON object: one action. Prose around it is ignored; two
actions are refused. The result of your action, or the exact error, is in your next context.
The handbook explains everything (invoke genesis_handbook read with a page name)."""

_RESULT_CHARS = 2000
_POINTERS = (
    "Handbook pages: index, actions, resources, llm, genesis, exchange, programs, tasks."
    " Genesis artifacts: genesis_ledger (balance, transfer, transfer_ownership, freeze,"
    " set_price), genesis_escrow (deposit, purchase, cancel, list), genesis_exchange (goods,"
    " bid, ask, cancel, book, trades, orders), genesis_rights_registry (check_quota,"
    " transfer_quota, config_right, transfer_config_right, tokenize_config_right), genesis_debt"
    " (issue, accept, repay, transfer, forgive, collect, check), genesis_event_log (read),"
    " genesis_oracle (bid, withdraw, status, check), genesis_tasks (list, read, submit,"
    " results), genesis_handbook (read)."
)


@dataclass(slots=True)
class Observation:
    """Everything one turn's context is built from."""

    agent_id: str
    now: float
    turn: int
    account: Account
    config: Mapping[str, Any]
    world_budget_left: float | None = None
    world_budget_limit: float | None = None
    last_result: Mapping[str, Any] | None = None
    events: Sequence[Event] = ()
    notes: Sequence[str] = ()
    own_artifacts: Sequence[ArtifactInfo] = ()
    others: Sequence[str] = ()
    for_sale: Sequence[Listing] = ()
    programs: Sequence[Program] = ()
    programs_enabled: bool = False
    next_resolution: float | None = None
    robot: str | None = None  # the state of the robonomics robot bound to this agent
    tasks: Sequence[OpenTask] = ()  # the tasks it may still be paid for
    prices: Sequence[Quote] = ()  # genesis_exchange's quotes, one per good
    artifact_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_policy(self) -> dict[str, Any]:
        """The same state as plain data, for policies that do not read text (the baseline)."""
        balances = account_json(self.account, self.now)
        out = {
            "agent_id": self.agent_id,
            "now": self.now,
            "turn": self.turn,
            "scrip": balances["scrip"],
            "stock": {k: v["available"] for k, v in balances["stock"].items()},
            "flow": {k: v["available"] for k, v in balances["flow"].items()},
            "own_artifacts": [a.id for a in self.own_artifacts if not a.executable],
            "others": list(self.others),
            "for_sale": [{"listing_id": x.id, "price": x.price} for x in self.for_sale],
            "debt_offers": [
                e.details.get("debt_id")
                for e in self.events
                if e.kind == EventKind.DEBT_PROPOSED and e.counterparty_id == self.agent_id
            ],
            "debts_owed": [
                e.details.get("debt_id")
                for e in self.events
                if e.kind == EventKind.DEBT_ACCEPTED and e.counterparty_id == self.agent_id
            ],
            "last_ok": None if self.last_result is None else self.last_result.get("ok"),
            "last_action": None if self.last_result is None else self.last_result.get("action"),
            "last_message": (
                None
                if self.last_result is None
                else _clip(str(self.last_result.get("message", "")), 160)
            ),
            "tasks": [
                {"task_id": t.id, "reward": t.reward, "difficulty": t.difficulty}
                for t in self.tasks
            ],
            "quota": {k: v["quota"] for k, v in balances["stock"].items()},
            "capacity": {k: v["capacity"] for k, v in balances["flow"].items()},
            "rate": {k: v["rate_per_second"] for k, v in balances["flow"].items()},
            "exchange": {
                q.good: {"lot": q.lot, "bid": q.bid, "ask": q.ask, "last": q.last}
                for q in self.prices
            },
        }
        if self.programs_enabled:
            out["own_programs"] = [
                {"id": a.id, "price": a.price, "frozen": bool(a.frozen)}
                for a in self.own_artifacts
                if a.executable
            ]
            out["programs"] = [
                {"id": p.id, "owner": p.owner_id, "price": p.price, "frozen": p.frozen}
                for p in self.programs
                if p.owner_id != self.agent_id
            ]
        return out


def _frozen(frozen: bool) -> str:
    return "frozen" if frozen else "not frozen"


def _program_note(a: ArtifactInfo) -> str:
    if not a.executable:
        return ""
    return f", program, price {a.price}" + (", frozen" if a.frozen else "")


def _task_line(t: OpenTask) -> str:
    closes = f", closes {_utc(t.closes_at)}" if t.closes_at is not None else ""
    return (
        f"- {t.id}: {t.title} (difficulty {t.difficulty}): {t.reward} scrip,"
        f" {t.solvers_left} paid slot(s) left{closes}"
    )


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 20] + f"... [{len(text) - n + 20} more chars]"


def _previous(result: Mapping[str, Any], limit: int) -> str:
    """The previous result as JSON within ``limit``; long read content is cut with its offset."""
    text = json.dumps(result, ensure_ascii=False)
    data = result.get("data")
    for _ in range(4):
        if len(text) <= limit or not isinstance(data, Mapping):
            break
        content = data.get("content")
        if not isinstance(content, str) or not content:
            break
        keep = max(0, len(content) - (len(text) - limit) - 40)
        data = {k: v for k, v in data.items() if k != "content"}
        if isinstance(data.get("offset"), int):
            data["next_offset"] = data["offset"] + keep
        data["content"] = content[:keep]
        result = {
            **result,
            "data": data,
            "note": "content cut to fit your context; read on from next_offset",
        }
        text = json.dumps(result, ensure_ascii=False)
    return _clip(text, limit)


def _balances(obs: Observation) -> list[str]:
    data = account_json(obs.account, obs.now)
    lines = [f"- scrip: {data['scrip']}"]
    for name, h in data["stock"].items():
        lines.append(f"- {name}: {h['available']:g} available of quota {h['quota']:g}")
    for name, b in data["flow"].items():
        debt = " IN DEBT: you cannot act until it is back to 0" if b["in_debt"] else ""
        lines.append(
            f"- {name}: {b['available']:g} of {b['capacity']:g}"
            f" (refills {b['rate_per_second']:g}/s){debt}"
        )
    if obs.world_budget_left is not None and obs.world_budget_limit is not None:
        lines.append(
            f"- the world's API budget: ${obs.world_budget_left:.4f} left of"
            f" ${obs.world_budget_limit:.2f}"
        )
    return lines


def _config(obs: Observation) -> str:
    cfg = obs.config
    cap = cfg.get("max_tokens")
    pacing = (cfg.get("sleep_policy") or {}).get("between_turns", 0)
    return (
        f"model {cfg.get('model')}, max_tokens {cap if cap is not None else 'none (no cap)'},"
        f" pause between turns {pacing}s"
    )


def _fill(
    title: str, items: Sequence[str], room: int, *, first: bool = False
) -> tuple[list[str], int]:
    """Newest (last) items first until ``room`` runs out, shown oldest first; ``first``:
    the first items instead (a ranked list: the easiest tasks), in their order."""
    if not items or room <= len(title) + 40:
        return ([f"{title} ({len(items)} not shown: no room)"] if items else []), room
    chosen: list[str] = []
    used = len(title) + 1
    for item in items if first else reversed(items):
        if used + len(item) + 1 > room:
            break
        chosen.append(item)
        used += len(item) + 1
    left_out = len(items) - len(chosen)
    more = "more" if first else "older"
    head = title if not left_out else f"{title} ({left_out} {more} not shown)"
    return [head, *(chosen if first else reversed(chosen))], room - used


def render(obs: Observation, system_prompt: str, *, max_chars: int) -> tuple[Message, ...]:
    """The system and user messages for one turn, together at most ``max_chars`` long.

    What does not change comes first, so that a server's prompt cache can reuse it: the
    rules (the same for every agent), the action shapes and handbook pointers, then who the
    agent is and its own instructions (the same for every turn of this agent). What changes
    (the time, balances, the last result, news) is last, in the user message.
    """
    own = _clip(system_prompt.strip(), max(200, max_chars // 4)) if system_prompt.strip() else ""
    system = "\n".join(
        [
            RULES,
            "",
            "Actions (reply with exactly one JSON object; values in <angle brackets> are"
            " placeholders to fill in):",
            action_shapes(obs.agent_id),
            "",
            _POINTERS,
            "",
            f"You are {obs.agent_id}.",
            *([f"Your own instructions:\n{own}"] if own else []),
        ]
    )

    if obs.last_result is None:
        previous = "(none: this is your first turn)"
    else:
        previous = _previous(obs.last_result, max(_RESULT_CHARS, max_chars // 3))
    head = [
        f"You are {obs.agent_id}. Your config: {_config(obs)}.",
        *([f"Your robot: {obs.robot}"] if obs.robot else []),
    ]
    essential = [
        # UTC only: small models copied a unix time shown here into sleep's seconds.
        f"Current time: {_utc(obs.now)}; this is your turn {obs.turn}.",
        *(
            [f"Next oracle resolution at {_utc(obs.next_resolution)}."]
            if obs.next_resolution is not None
            else []
        ),
        "",
        "Your balances:",
        *_balances(obs),
        "",
        "Result of your previous action:",
        previous,
    ]
    if obs.prices:  # changes with trading only: before the time, after the slower lists
        essential[:0] = [
            "Exchange (genesis_exchange; per good: best bid/best ask/last, scrip per lot):"
            f" {price_line(obs.prices)}.",
            "",
        ]
    room = max_chars - len(system) - sum(len(x) + 1 for x in head + essential)
    optional: list[str] = []
    news: list[str] = []
    event_lines = [json.dumps(event_json(e), ensure_ascii=False) for e in obs.events]
    for title, items, first in (
        (
            "Open tasks: the world mints the reward for a program that passes a task's hidden"
            " cases (genesis_tasks read, then submit):",
            [_task_line(t) for t in obs.tasks],
            True,
        ),
        ("Recent events that concern you (oldest first):", event_lines, False),
        ("Your notes (oldest first):", [f"- {n}" for n in obs.notes], False),
        (
            "Artifacts you own:",
            [f"- {a.id} ({a.size_bytes} bytes{_program_note(a)})" for a in obs.own_artifacts],
            False,
        ),
        (
            "Programs (invoke with no method and pay >= price; trust only frozen ones):",
            [
                f"- {p.id} by {p.owner_id}: price {p.price}, {_frozen(p.frozen)}, holds"
                f" {p.scrip_held} scrip, {p.succeeded} of {p.invocations} calls succeeded"
                for p in obs.programs
            ],
            False,
        ),
        (
            "For sale in genesis_escrow (buy with its purchase method):",
            [
                f"- listing {x.id}: {x.artifact_id} from {x.seller_id}, {x.price} scrip,"
                f" {x.size_bytes} bytes"
                for x in obs.for_sale
            ],
            False,
        ),
        ("Other agents:", [", ".join(obs.others)] if obs.others else [], False),
    ):
        if not items:
            continue
        lines, room = _fill(title, items, room, first=first)
        if lines:
            (news if items is event_lines else optional).extend(["", *lines])
    # The slower-changing lists first (open tasks, notes, artifacts, programs), then what
    # changes every turn (the time, balances, the last result, the news), so that even the
    # user message shares a prefix from one turn to the next.
    user = "\n".join([*head, *optional, "", *essential, *news])
    if len(system) + len(user) > max_chars:  # only when the essentials alone are too long
        user = _clip(user, max(0, max_chars - len(system)))
    return (Message("system", _text(system)), Message("user", _text(user)))


def _text(text: str) -> str:
    # Stored text can hold what is not Unicode (a lone surrogate that reached the database
    # from an older version, or by hand): shown as U+FFFD, so the call can still be made.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
