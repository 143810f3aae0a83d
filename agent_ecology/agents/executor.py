"""Carrying out an agent's action through the kernel and the genesis artifacts.

Every outcome, success or refusal, becomes an :class:`Outcome` that the agent reads on its
next turn; a refusal carries the kernel's (or the artifact's) error code and message, which
say what to do instead. Nothing an agent sends can raise out of :meth:`Executor.perform`
except a failure of the runtime itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_ecology.agents import actions as act
from agent_ecology.agents.sleep import WakeConditions
from agent_ecology.clock import Clock
from agent_ecology.genesis import (
    Genesis,
    Invocation,
    InvocationError,
    MethodFailed,
    account_json,
    event_json,
)
from agent_ecology.ledger import Ledger, LedgerError, LedgerUnavailable, ops
from agent_ecology.llm.budget import UnpricedModel
from agent_ecology.programs import ProgramError, Programs

__all__ = ["Executor", "Outcome"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did, as the agent will be told."""

    action: str
    ok: bool
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)
    code: str | None = None
    sleep: WakeConditions | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "ok": self.ok, "message": self.message}
        if self.code is not None:
            out["error"] = self.code
        if self.data:
            out["data"] = dict(self.data)
        return out

    @classmethod
    def refused(cls, action: str, code: str, message: str) -> Outcome:
        return cls(action, False, message, code=code)


class Executor:
    """Performs actions for agents. ``check_model`` raises
    :class:`~agent_ecology.llm.budget.UnpricedModel` for a model whose calls could not be
    charged (the budget's :meth:`~agent_ecology.llm.budget.Budget.check_model`)."""

    def __init__(
        self,
        ledger: Ledger,
        genesis: Genesis,
        clock: Clock,
        *,
        check_model: Callable[[str], None],
        max_notes: int = 50,
        programs: Programs | None = None,
        fees: Mapping[str, int] | None = None,
        fee_authority: str = "world",
    ) -> None:
        self.ledger = ledger
        self.genesis = genesis
        self.clock = clock
        self.check_model = check_model
        self.max_notes = max_notes
        self.programs = programs
        self.fees = dict(fees or {})
        self.fee_authority = fee_authority

    async def perform(self, agent_id: str, action: act.Action) -> Outcome:
        name = action.action
        try:
            return await self._perform(agent_id, action)
        except LedgerUnavailable:
            raise  # the runtime's problem, not the agent's
        except LedgerError as exc:
            return Outcome.refused(name, exc.code, str(exc))
        except InvocationError as exc:
            return Outcome.refused(name, exc.code, str(exc))
        except MethodFailed as exc:
            return Outcome(name, False, str(exc), exc.data, code=exc.code)
        except ProgramError as exc:
            return Outcome.refused(name, exc.code, str(exc))

    async def _perform(self, me: str, a: act.Action) -> Outcome:
        ledger = self.ledger
        if isinstance(a, act.Noop):
            return Outcome("noop", True, "you did nothing this turn")
        if isinstance(a, act.ReadArtifact):
            art = await ledger.artifact(a.artifact_id)
            piece = art.content[a.offset : a.offset + a.limit]
            end = a.offset + len(piece)
            more = end < len(art.content)
            data: dict[str, Any] = {
                "artifact_id": art.id,
                "owner": art.owner_id,
                "size_bytes": art.size_bytes,
                "offset": a.offset,
            }
            if more:
                data["next_offset"] = end
            data["content"] = piece
            note = f" (characters {a.offset}-{end} of {len(art.content)})" if more else ""
            return Outcome("read_artifact", True, f"read {art.id}{note}", data)
        if isinstance(a, act.WriteArtifact) and (a.executable or a.price):
            if not a.executable:
                return Outcome.refused(
                    "write_artifact",
                    "invalid_action",
                    "only programs have a price: add executable true, or drop price (sell data"
                    " through genesis_escrow)",
                )
            if self.programs is None:
                return Outcome.refused(
                    "write_artifact",
                    "programs_disabled",
                    "this world runs no programs (sandbox.enabled is false); write data only",
                )
            price = a.price
            if price is None:  # a rewrite keeps the program's price; a new one is free
                try:
                    price = (await ledger.artifact(a.artifact_id)).price
                except LedgerError:
                    price = 0
            written = await self.programs.write(me, a.artifact_id, a.content, price)
            verb = "created" if written["created"] else "replaced"
            return Outcome(
                "write_artifact",
                True,
                f"{verb} program {a.artifact_id} ({written['size_bytes']} bytes, price"
                f" {price}); others run it with invoke, and you can freeze it with"
                " genesis_ledger freeze",
                dict(written),
            )
        if isinstance(a, act.WriteArtifact):
            receipt = await ledger.submit(
                ops.WriteArtifact(actor=me, artifact_id=a.artifact_id, content=a.content)
            )
            verb = "created" if receipt.details["created"] else "replaced"
            return Outcome(
                "write_artifact",
                True,
                f"{verb} {a.artifact_id} ({receipt.details['size_bytes']} bytes)",
                dict(receipt.details),
            )
        if isinstance(a, act.EditArtifact):
            return await self._edit(me, a)
        if isinstance(a, act.DeleteArtifact):
            deleted = await ledger.submit(ops.DeleteArtifact(actor=me, artifact_id=a.artifact_id))
            return Outcome(
                "delete_artifact", True, f"deleted {a.artifact_id}", dict(deleted.details)
            )
        if isinstance(a, act.Invoke):
            if a.artifact_id not in self.genesis.artifacts and self.programs is not None:
                return await self._run_program(me, a)
            return await self._call_genesis(me, a)
        if isinstance(a, act.Query):
            return await self._query(me, a)
        if isinstance(a, act.SleepAction):
            return await self._sleep(me, a)
        if isinstance(a, act.Note):
            noted = await ledger.submit(ops.AddNote(agent_id=me, text=a.text, keep=self.max_notes))
            dropped = noted.details["dropped"]
            extra = f"; your oldest {dropped} note(s) were dropped" if dropped else ""
            return Outcome("note", True, f"noted{extra}")
        if isinstance(a, act.UpdateConfig):
            changes = a.changes()
            if "model" in changes:
                try:
                    self.check_model(changes["model"])
                except UnpricedModel as exc:
                    return Outcome.refused("update_config", "unusable_model", str(exc))
            target = a.agent_id or me
            updated = await ledger.submit(
                ops.UpdateAgentConfig(actor=me, agent_id=target, changes=changes)
            )
            return Outcome(
                "update_config",
                True,
                f"{target}'s config is now version {updated.details['version']}; it applies"
                " from its next turn",
                {"config": updated.details["config"]},
            )
        raise AssertionError(f"unhandled action {a!r}")  # the union is closed

    async def _call_genesis(self, me: str, a: act.Invoke) -> Outcome:
        if a.pay:
            return Outcome.refused(
                "invoke",
                "invalid_action",
                "pay is for programs; a genesis method takes what it needs in its args",
            )
        if a.method is None:
            known = self.genesis.artifacts.get(a.artifact_id)
            if known is None:
                return Outcome.refused(
                    "invoke",
                    "programs_disabled",
                    f"{a.artifact_id} is not a genesis artifact, and this world runs no programs"
                    " (sandbox.enabled is false); name a genesis artifact and a method",
                )
            return Outcome.refused(
                "invoke",
                "missing_method",
                f"{a.artifact_id} is a genesis artifact: name a method (one of"
                f" {', '.join(known.methods)})",
            )
        key = f"{a.artifact_id}.{a.method}"
        fee = self.fees.get(key, 0)
        if fee:
            # A fee is paid for the attempt, burnt before the call, so that nothing the call
            # does can dodge it (seed 004's transaction fees).
            try:
                await self.ledger.submit(ops.Burn(src=me, amount=fee, authority=self.fee_authority))
            except LedgerError as exc:
                return Outcome.refused(
                    "invoke",
                    exc.code,
                    f"{key} costs a fee of {fee} scrip per call, paid first: {exc}",
                )
        inv = Invocation(me, self.ledger, self.clock)
        result = dict(await self.genesis.invoke(inv, a.artifact_id, a.method, a.args))
        if fee:
            result["fee"] = fee
        return Outcome("invoke", True, f"{key} done", result)

    async def _run_program(self, me: str, a: act.Invoke) -> Outcome:
        assert self.programs is not None
        if a.method is not None:
            return Outcome.refused(
                "invoke",
                "invalid_action",
                f"{a.artifact_id} is not a genesis artifact; a program has one entry point,"
                " main(args, host): omit method",
            )
        done = await self.programs.invoke(me, a.artifact_id, a.args, a.pay)
        data = done.to_json()
        if done.ok:
            paid = f", paid {done.price_paid} scrip" if done.price_paid else ""
            return Outcome(
                "invoke",
                True,
                f"{a.artifact_id} returned{paid} ({done.compute_seconds:.4f} s of compute)",
                data,
            )
        failure = done.failure
        assert failure is not None
        code = "program_failed" if failure.limit is None else f"program_{failure.limit}"
        return Outcome(
            "invoke",
            False,
            f"{a.artifact_id} failed: {failure.describe()}; nothing it did happened and your"
            f" pay came back (its compute, {done.compute_seconds:.4f} s, is charged)",
            data,
            code=code,
        )

    async def _edit(self, me: str, a: act.EditArtifact) -> Outcome:
        art = await self.ledger.artifact(a.artifact_id)
        if art.owner_id != me:
            return Outcome.refused(
                "edit_artifact",
                "not_permitted",
                f"{a.artifact_id} is owned by {art.owner_id!r}; you can edit only your own",
            )
        count = art.content.count(a.old)
        if count != 1:
            hint = (
                "it does not occur; read the artifact first and copy the text exactly"
                if count == 0
                else f"it occurs {count} times; include more surrounding text to make it unique"
            )
            return Outcome.refused(
                "edit_artifact", "edit_no_match" if count == 0 else "edit_ambiguous", hint
            )
        content = art.content.replace(a.old, a.new, 1)
        if art.executable and self.programs is not None:
            written = await self.programs.write(me, a.artifact_id, content, art.price)
            return Outcome(
                "edit_artifact",
                True,
                f"edited program {a.artifact_id} ({written['size_bytes']} bytes)",
                dict(written),
            )
        receipt = await self.ledger.submit(
            ops.WriteArtifact(actor=me, artifact_id=a.artifact_id, content=content)
        )
        return Outcome(
            "edit_artifact",
            True,
            f"edited {a.artifact_id} ({receipt.details['size_bytes']} bytes)",
            dict(receipt.details),
        )

    async def _query(self, me: str, q: act.Query) -> Outcome:
        ledger, now = self.ledger, self.clock.now()
        if q.what == "balances":
            account = await ledger.account(q.principal or me)
            return Outcome("query", True, "balances", account_json(account, now))
        if q.what == "agents":
            agents = await ledger.principals("agent")
            rows = [{"id": p.id, "scrip": p.scrip} for p in agents[: q.limit]]
            return Outcome("query", True, f"{len(agents)} agents", {"agents": rows})
        if q.what == "artifacts":
            infos = await ledger.artifact_index(q.owner, limit=q.limit)
            rows = [{"id": i.id, "owner": i.owner_id, "size_bytes": i.size_bytes} for i in infos]
            return Outcome("query", True, f"{len(rows)} artifacts", {"artifacts": rows})
        if q.what == "artifact":
            if q.artifact_id is None:
                return Outcome.refused(
                    "query", "invalid_action", 'what "artifact" needs an artifact_id'
                )
            art = await ledger.artifact(q.artifact_id)
            data = {
                "id": art.id,
                "owner": art.owner_id,
                "size_bytes": art.size_bytes,
                "updated_at": art.updated_at,
                "preview": art.content[:200],
            }
            if art.executable:
                data.update(program=True, price=art.price, frozen=bool(art.frozen))
            return Outcome("query", True, f"artifact {art.id}", data)
        events = await ledger.events(
            after=q.after, principal=q.principal, kind=q.kind, limit=q.limit
        )
        return Outcome(
            "query",
            True,
            f"{len(events)} events",
            {
                "events": [event_json(e) for e in events],
                "next_after": events[-1].seq if events else q.after,
            },
        )

    async def _sleep(self, me: str, a: act.SleepAction) -> Outcome:
        now = self.clock.now()
        wake = WakeConditions.from_action(a, now)
        if wake.resource is not None:
            account = await self.ledger.account(me)
            bucket = account.bucket(wake.resource)
            known = wake.resource == "scrip" or bucket or account.holding(wake.resource)
            if not known:
                names = ["scrip", *(h.resource for h in account.stock + account.flow)]
                return Outcome.refused(
                    "sleep",
                    "unknown_resource",
                    f"you hold no {wake.resource!r}; until_balance.resource is one of:"
                    f" {', '.join(names)}",
                )
            if bucket and wake.at_least is not None and wake.at_least > bucket.capacity:
                return Outcome.refused(
                    "sleep",
                    "unreachable_threshold",
                    f"{wake.resource} never exceeds its capacity {bucket.capacity:g}; ask for"
                    f" at_least {bucket.capacity:g} or less",
                )
        await self.ledger.submit(ops.SetSleep(agent_id=me, sleep=wake.to_json()))
        return Outcome("sleep", True, f"you slept {wake.describe()}", sleep=wake)
