"""Programs on a real ledger and sandbox: prices, atomicity, contracts, metering, refusals."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from agent_ecology.agents import Executor
from agent_ecology.agents import actions as act
from agent_ecology.clock import ManualClock
from agent_ecology.genesis import examples
from agent_ecology.ledger import Event, EventKind, Ledger, LedgerError, ops
from agent_ecology.programs import ProgramError, Programs
from agent_ecology.sandbox import Sandbox
from tests.conftest import T0
from tests.programs.conftest import HELD, MEMORY_QUOTA, SECONDS_PER_FUEL, limits

TOOL = "def main(args, host):\n    return sum(args['xs'])\n"


async def balances(ledger: Ledger, *ids: str) -> dict[str, int]:
    return {i: await ledger.scrip(i) for i in ids}


async def compute(ledger: Ledger, who: str, now: float) -> float:
    bucket = (await ledger.account(who)).bucket("compute")
    assert bucket is not None
    return bucket.available(now)


async def test_a_tool_pays_its_owner_its_price_and_keeps_the_rest(
    ledger: Ledger, programs: Programs
) -> None:
    await programs.write("bob", "bob/sum", TOOL, 3)
    done = await programs.invoke("alice", "bob/sum", {"xs": [1, 2, 3]}, 5)
    assert done.ok and done.value == 6 and done.price_paid == 3
    assert await balances(ledger, "alice", "bob", "bob/sum", ops.SANDBOX) == {
        "alice": 95,
        "bob": 103,
        "bob/sum": 2,
        ops.SANDBOX: 0,
    }
    [program] = await ledger.programs(ids=("bob/sum",))
    assert (program.price, program.invocations, program.succeeded, program.revenue) == (3, 1, 1, 3)


async def test_pay_below_the_price_is_refused_before_anything_runs(
    ledger: Ledger, programs: Programs
) -> None:
    await programs.write("bob", "bob/sum", TOOL, 3)
    with pytest.raises(LedgerError, match=r"costs 3 scrip per successful call; pay at least 3"):
        await programs.invoke("alice", "bob/sum", {"xs": [1]}, 2)
    assert await balances(ledger, "alice", "bob") == {"alice": 100, "bob": 100}
    assert await ledger.invocations() == []


async def test_a_program_that_transfers_then_raises_changes_no_balance(
    ledger: Ledger, programs: Programs, clock: ManualClock
) -> None:
    source = (
        "def main(args, host):\n"
        "    host.transfer('carol', 10)\n"
        "    host.set('k', 1)\n"
        "    raise ValueError('after the transfer')\n"
    )
    await programs.write("bob", "bob/leaky", source, 1)
    await ledger.submit(ops.Transfer(src="bob", dst="bob/leaky", amount=20))
    before = await balances(ledger, "alice", "bob", "carol", "bob/leaky")
    compute_before = await compute(ledger, "alice", T0)
    done = await programs.invoke("alice", "bob/leaky", {}, 5)
    assert not done.ok and done.failure is not None
    assert (done.failure.kind, done.failure.line) == ("ValueError", 4)
    assert await balances(ledger, "alice", "bob", "carol", "bob/leaky") == before
    assert await ledger.program_state("bob/leaky", "k") is None
    # ... but its compute is charged, exactly fuel x the rate
    assert done.fuel > 0
    spent = compute_before - await compute(ledger, "alice", T0)
    assert spent == pytest.approx(done.fuel * SECONDS_PER_FUEL, rel=1e-9)
    [row] = await ledger.invocations()
    assert (row.status, row.error_kind, row.fuel) == ("failed", "ValueError", done.fuel)


async def test_the_compute_charge_is_fuel_times_the_rate_and_can_go_into_debt(
    ledger: Ledger, programs: Programs
) -> None:
    runaway = "def main(args, host):\n    while True:\n        pass\n"
    await programs.write("bob", "bob/runaway", runaway, 0)
    # 200M fuel x 1e-8 s = 2 s of compute per call; alice's bucket holds 100
    calls = 0
    while (await compute(ledger, "alice", T0)) >= 0:
        done = await programs.invoke("alice", "bob/runaway", {}, 0)
        assert done.failure is not None and done.failure.limit == "fuel"
        assert done.fuel == limits().fuel
        assert done.compute_seconds == pytest.approx(2.0)
        calls += 1
    assert calls == 51  # 100 / 2 = 50 calls bring it to 0; the 51st goes below
    assert await compute(ledger, "alice", T0) == pytest.approx(-2.0)
    with pytest.raises(LedgerError, match="no invocation starts in compute debt"):
        await programs.invoke("alice", "bob/runaway", {}, 0)


async def test_a_splitter_forwards_what_it_is_paid(ledger: Ledger, programs: Programs) -> None:
    await programs.write("alice", "alice/split", examples.splitter({"bob": 2, "carol": 1}), 1)
    done = await programs.invoke("alice", "alice/split", {}, 10)
    assert done.ok and done.value == {"forwarded": {"bob": 6, "carol": 3}}
    assert done.logs == ["split 9 scrip: {'bob': 6, 'carol': 3}"]
    # alice paid 10, got her price of 1 back as the owner: -9; the account keeps nothing
    assert await balances(ledger, "alice", "bob", "carol", "alice/split") == {
        "alice": 91,
        "bob": 106,
        "carol": 103,
        "alice/split": 0,
    }


async def test_a_time_limited_sale_releases_the_artifact_only_by_its_rules(
    ledger: Ledger, programs: Programs, clock: ManualClock
) -> None:
    await programs.write("alice", "alice/sale", examples.TIMED_SALE, 0)
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="alice/report", content="x"))
    await ledger.submit(
        ops.TransferArtifact(actor="alice", artifact_id="alice/report", new_owner="alice/sale")
    )
    # only the owner makes the offer
    denied = await programs.invoke("bob", "alice/sale", {"action": "offer"}, 0)
    assert denied.failure is not None and denied.failure.kind == "PermissionError"
    offer = {"action": "offer", "artifact": "alice/report", "price": 20, "seconds": 60}
    assert (await programs.invoke("alice", "alice/sale", offer, 0)).ok
    # too little: refused, the pay comes back
    short = await programs.invoke("bob", "alice/sale", {}, 19)
    assert short.failure is not None and "pay at least that" in short.failure.message
    assert await ledger.scrip("bob") == 100
    # the owner cannot take it back while the offer is open
    early = await programs.invoke("alice", "alice/sale", {"action": "reclaim"}, 0)
    assert early.failure is not None and "open until" in early.failure.message
    clock.advance(30)
    bought = await programs.invoke("bob", "alice/sale", {}, 20)
    assert bought.ok and bought.value == {"bought": "alice/report", "paid": 20}
    assert (await ledger.artifact("alice/report")).owner_id == "bob"
    assert await balances(ledger, "alice", "bob", "alice/sale") == {
        "alice": 120,
        "bob": 80,
        "alice/sale": 0,
    }


async def test_after_the_deadline_the_sale_is_closed_and_the_owner_reclaims(
    ledger: Ledger, programs: Programs, clock: ManualClock
) -> None:
    await programs.write("alice", "alice/sale", examples.TIMED_SALE, 0)
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="alice/report", content="x"))
    await ledger.submit(
        ops.TransferArtifact(actor="alice", artifact_id="alice/report", new_owner="alice/sale")
    )
    offer = {"action": "offer", "artifact": "alice/report", "price": 5, "seconds": 10}
    assert (await programs.invoke("alice", "alice/sale", offer, 0)).ok
    clock.advance(11)
    late = await programs.invoke("bob", "alice/sale", {}, 5)
    assert late.failure is not None and late.failure.message == "the offer has expired"
    assert await ledger.scrip("bob") == 100
    # the program holds the artifact, so it cannot be deleted
    with pytest.raises(LedgerError, match="holds 0 scrip and 1 artifact"):
        await ledger.submit(ops.DeleteArtifact(actor="alice", artifact_id="alice/sale"))
    assert (await programs.invoke("alice", "alice/sale", {"action": "reclaim"}, 0)).ok
    assert (await ledger.artifact("alice/report")).owner_id == "alice"
    await ledger.submit(ops.DeleteArtifact(actor="alice", artifact_id="alice/sale"))


async def test_a_program_moves_only_what_its_own_account_holds(
    ledger: Ledger, programs: Programs
) -> None:
    greedy = (
        "def main(args, host):\n"
        "    out = []\n"
        "    for call in (lambda: host.transfer('bob', host.paid + 1),\n"
        "                 lambda: host.give('carol/secret', 'bob'),\n"
        "                 lambda: host.transfer('bob', 10**6)):\n"
        "        try:\n"
        "            call()\n"
        "        except HostError as e:\n"
        "            out.append(str(e))\n"
        "    return out\n"
    )
    await ledger.submit(ops.WriteArtifact(actor="carol", artifact_id="carol/secret", content="s"))
    await programs.write("bob", "bob/greedy", greedy, 0)
    done = await programs.invoke("alice", "bob/greedy", {}, 4)
    assert done.ok
    assert done.value == [
        "bob/greedy holds 4 scrip; it cannot transfer 5 (a program moves only what its own"
        " account holds)",
        "'carol/secret' is not held by bob/greedy; a program gives only what its account holds",
        "bob/greedy holds 4 scrip; it cannot transfer 1000000 (a program moves only what its"
        " own account holds)",
    ]
    assert await balances(ledger, "alice", "bob", "bob/greedy") == {
        "alice": 96,
        "bob": 100,
        "bob/greedy": 4,
    }
    assert (await ledger.artifact("carol/secret")).owner_id == "carol"


async def test_nested_invocations_pay_from_the_outer_account_and_fail_as_one(
    ledger: Ledger, programs: Programs
) -> None:
    await programs.write("bob", "bob/sum", TOOL, 2)
    user = (
        "def main(args, host):\n"
        "    total = host.invoke('bob/sum', {'xs': args['xs']}, pay=2)\n"
        "    if args.get('fail'):\n"
        "        raise RuntimeError('after the nested call')\n"
        "    return total\n"
    )
    await programs.write("carol", "carol/user", user, 0)
    await ledger.submit(ops.Transfer(src="carol", dst="carol/user", amount=5))
    done = await programs.invoke("alice", "carol/user", {"xs": [4, 5]}, 0)
    assert done.ok and done.value == 9
    assert await balances(ledger, "bob", "carol/user") == {"bob": 102, "carol/user": 3}
    failed = await programs.invoke("alice", "carol/user", {"xs": [1], "fail": True}, 0)
    assert failed.failure is not None and failed.failure.kind == "RuntimeError"
    assert await balances(ledger, "bob", "carol/user") == {"bob": 102, "carol/user": 3}
    records = await ledger.invocations(artifact_id="bob/sum")
    assert [(r.invoker_id, r.price, r.status) for r in records] == [("carol/user", 2, "ok")]


async def test_frozen_programs_cannot_be_rewritten_repriced_or_deleted(
    ledger: Ledger, programs: Programs
) -> None:
    await programs.write("bob", "bob/sum", TOOL, 1)
    await ledger.submit(ops.FreezeArtifact(actor="bob", artifact_id="bob/sum"))
    for attempt in (
        programs.write("bob", "bob/sum", TOOL + "# v2\n", 1),
        ledger.submit(ops.SetPrice(actor="bob", artifact_id="bob/sum", price=9)),
        ledger.submit(ops.DeleteArtifact(actor="bob", artifact_id="bob/sum")),
    ):
        with pytest.raises(LedgerError, match="is frozen: nobody, its owner included"):
            await attempt
    art = await ledger.artifact("bob/sum")
    assert (art.content, art.price, art.frozen) == (TOOL, 1, True)


async def test_a_program_that_does_not_compile_is_refused_with_its_line(
    ledger: Ledger, programs: Programs
) -> None:
    with pytest.raises(ProgramError, match=r"does not compile: .* \(line 2\)"):
        await programs.write("bob", "bob/bad", "def main(args, host):\n    return (\n", 0)
    with pytest.raises(ProgramError, match="defines no top-level function main"):
        await programs.write("bob", "bob/bad", "x = 1\n", 0)
    assert await ledger.programs() == []


async def test_one_agents_concurrent_invocations_fit_its_memory_quota(
    ledger: Ledger, programs: Programs, sandbox: Sandbox, clock: ManualClock
) -> None:
    # Each invocation holds HELD; the quota holds one and a half of them.
    slow = "def main(args, host):\n    while True:\n        pass\n"
    await programs.write("bob", "bob/slow", slow, 0)
    patient = Programs(
        ledger,
        sandbox,
        clock,
        limits=limits(fuel=10**12, deadline_s=1.0),
        seconds_per_fuel=SECONDS_PER_FUEL / 1e4,
    )
    outcomes: list[object] = []

    async def call() -> None:
        try:
            outcomes.append(await patient.invoke("alice", "bob/slow", {}, 0))
        except LedgerError as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
    refused = [o for o in outcomes if isinstance(o, LedgerError)]
    assert len(refused) == 2
    assert all(f"needs {HELD} memory" in str(o) for o in refused), refused
    holding = (await ledger.account("alice")).holding("memory")
    assert holding is not None and (holding.quota, holding.used) == (MEMORY_QUOTA, 0)
    # another agent's quota is its own
    assert (await patient.invoke("bob", "bob/slow", {}, 0)).failure is not None
    assert HELD < MEMORY_QUOTA < 2 * HELD


async def test_an_abandoned_invocation_gives_its_holds_back(
    ledger: Ledger, programs: Programs
) -> None:
    await programs.write("bob", "bob/sum", TOOL, 1)
    await ledger.submit(
        ops.StartInvocation(
            invocation_id="lost", invoker="alice", artifact_id="bob/sum", pay=7,
            memory_bytes=HELD,
        )
    )  # fmt: skip
    assert await ledger.scrip(ops.SANDBOX) == 7
    done = await ledger.submit(ops.AbandonInvocations(authority="world"))
    assert done.details == {"abandoned": 1}
    assert await balances(ledger, "alice", ops.SANDBOX) == {"alice": 100, ops.SANDBOX: 0}
    holding = (await ledger.account("alice")).holding("memory")
    assert holding is not None and holding.used == 0
    [row] = await ledger.invocations()
    assert row.status == "abandoned"


async def test_contracts_hold_debts_and_release_artifacts_to_escrow_sellers(
    ledger: Ledger, programs: Programs, executor: Executor
) -> None:
    # bob borrows 10 from carol; carol gives the debt to a contract; bob's repayment goes to
    # the contract (the debt's owner), whose code alone can pay it out.
    issue = act.Invoke(
        action="invoke", artifact_id="genesis_debt", method="issue",
        args={"creditor_id": "carol", "principal": 10, "interest_rate": 0, "due_in": 100},
    )  # fmt: skip
    issued = await executor.perform("bob", issue)
    assert issued.ok, issued.message
    debt_id = issued.data["debt_id"]
    accept = act.Invoke(
        action="invoke", artifact_id="genesis_debt", method="accept", args={"debt_id": debt_id}
    )
    assert (await executor.perform("carol", accept)).ok
    vault = "def main(args, host):\n    host.transfer(host.owner, host.balance()['scrip'])\n"
    await programs.write("carol", "carol/vault", vault, 0)
    await ledger.submit(
        ops.TransferArtifact(actor="carol", artifact_id=f"debts/{debt_id}", new_owner="carol/vault")
    )
    repay = act.Invoke(
        action="invoke", artifact_id="genesis_debt", method="repay",
        args={"debt_id": debt_id, "amount": 10},
    )  # fmt: skip
    assert (await executor.perform("bob", repay)).ok
    assert await ledger.scrip("carol/vault") == 10
    assert (await programs.invoke("carol", "carol/vault", {}, 0)).ok
    assert await balances(ledger, "carol", "carol/vault") == {"carol": 100, "carol/vault": 0}
    # an artifact a contract releases can be sold through the escrow like any other
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="alice/map", content="m"))
    await programs.write("alice", "alice/sale", examples.TIMED_SALE, 0)
    await ledger.submit(
        ops.TransferArtifact(actor="alice", artifact_id="alice/map", new_owner="alice/sale")
    )
    offer = {"action": "offer", "artifact": "alice/map", "price": 1, "seconds": 60}
    assert (await programs.invoke("alice", "alice/sale", offer, 0)).ok
    assert (await programs.invoke("bob", "alice/sale", {}, 1)).ok
    deposit = act.Invoke(
        action="invoke", artifact_id="genesis_escrow", method="deposit",
        args={"artifact_id": "alice/map", "price": 4},
    )  # fmt: skip
    listed = await executor.perform("bob", deposit)
    assert listed.ok, listed.message
    purchase = act.Invoke(
        action="invoke", artifact_id="genesis_escrow", method="purchase",
        args={"listing_id": listed.data["listing_id"]},
    )  # fmt: skip
    assert (await executor.perform("carol", purchase)).ok
    assert (await ledger.artifact("alice/map")).owner_id == "carol"


async def test_the_invoke_action_reports_results_and_errors(
    ledger: Ledger, programs: Programs, executor: Executor
) -> None:
    write = act.WriteArtifact(
        action="write_artifact", artifact_id="bob/sum", content=TOOL, executable=True, price=2
    )
    assert (await executor.perform("bob", write)).ok
    ok = await executor.perform(
        "alice", act.Invoke(action="invoke", artifact_id="bob/sum", args={"xs": [2]}, pay=2)
    )
    assert ok.ok and ok.data["result"] == 2 and ok.data["price_paid"] == 2
    assert ok.message.startswith("bob/sum returned, paid 2 scrip (")
    bad = await executor.perform(
        "alice", act.Invoke(action="invoke", artifact_id="bob/sum", args={}, pay=2)
    )
    assert (bad.ok, bad.code) == (False, "program_failed")
    assert bad.data["error"] == {"type": "KeyError", "message": "'xs'", "line": 2}
    assert "nothing it did happened and your pay came back" in bad.message
    method = await executor.perform(
        "alice", act.Invoke(action="invoke", artifact_id="bob/sum", method="main", pay=2)
    )
    assert (method.ok, method.code) == (False, "invalid_action")
    broken = act.WriteArtifact(
        action="write_artifact", artifact_id="bob/x", content="def main(a, h)\n", executable=True
    )
    refused = await executor.perform("bob", broken)
    assert (refused.ok, refused.code) == (False, "program_invalid")
    assert "(line 1)" in refused.message
    data = act.WriteArtifact(action="write_artifact", artifact_id="bob/sum", content="text")
    overwrite = await executor.perform("bob", data)
    assert (overwrite.ok, overwrite.code) == (False, "not_permitted")
    assert "is a program: rewrite it as one" in overwrite.message


async def test_genesis_fees_are_burnt_after_a_successful_call(
    ledger: Ledger, executor: Executor
) -> None:
    pay = act.Invoke(
        action="invoke", artifact_id="genesis_ledger", method="transfer",
        args={"to": "bob", "amount": 5},
    )  # fmt: skip
    done = await executor.perform("alice", pay)
    assert done.ok and done.data["fee"] == 1
    assert await balances(ledger, "alice", "bob") == {"alice": 94, "bob": 105}
    supply = await ledger.supply()
    assert supply.burned == 1


async def disk_used(ledger: Ledger, who: str) -> float:
    holding = (await ledger.account(who)).holding("disk")
    assert holding is not None
    return holding.used


async def test_deleting_a_program_frees_exactly_its_bytes_and_its_stored_state(
    ledger: Ledger, programs: Programs
) -> None:
    store = "def main(args, host):\n    host.set('blob', 'x' * 3000)\n    return 1\n"
    before = await disk_used(ledger, "bob")
    await programs.write("bob", "bob/store", store, 0)
    assert (await programs.invoke("alice", "bob/store", {}, 0)).ok
    assert await disk_used(ledger, "bob") == before + len(store) + len("blob") + 3002
    await ledger.submit(ops.DeleteArtifact(actor="bob", artifact_id="bob/store"))
    assert await disk_used(ledger, "bob") == before
    # the empty account is taken over by a new program of the same id
    await programs.write("bob", "bob/store", TOOL, 0)


async def test_a_programs_account_holds_no_programs(ledger: Ledger, programs: Programs) -> None:
    await programs.write("alice", "alice/a", TOOL, 0)
    await programs.write("alice", "alice/b", TOOL, 0)
    for target, refusal in (
        ("alice/b", "a program's account holds no programs"),
        ("alice/a", "'alice/a' cannot hold itself"),
    ):
        with pytest.raises(LedgerError, match=refusal):
            await ledger.submit(
                ops.TransferArtifact(actor="alice", artifact_id="alice/a", new_owner=target)
            )


async def test_a_listed_program_pays_its_price_to_its_seller(
    ledger: Ledger, programs: Programs, executor: Executor
) -> None:
    await programs.write("bob", "bob/sum", TOOL, 3)
    deposit = act.Invoke(
        action="invoke", artifact_id="genesis_escrow", method="deposit",
        args={"artifact_id": "bob/sum", "price": 50},
    )  # fmt: skip
    assert (await executor.perform("bob", deposit)).ok
    escrow_before = await ledger.scrip(ops.ESCROW)
    done = await programs.invoke("alice", "bob/sum", {"xs": [1]}, 3)
    assert done.ok
    assert await ledger.scrip("bob") == 103
    assert await ledger.scrip(ops.ESCROW) == escrow_before


async def test_every_started_invocation_is_finished_even_when_no_instance_can_be_made(
    ledger: Ledger, sandbox: Sandbox, clock: ManualClock, programs: Programs
) -> None:
    await programs.write("bob", "bob/sum", TOOL, 1)
    cramped = Programs(
        ledger, sandbox, clock, limits=limits(memory_bytes=1 << 20),
        seconds_per_fuel=SECONDS_PER_FUEL,
    )  # fmt: skip
    done = await cramped.invoke("alice", "bob/sum", {"xs": [1]}, 5)
    assert done.failure is not None and done.failure.kind == "SandboxError"
    assert "memory_mb" in done.failure.message
    assert await balances(ledger, "alice", ops.SANDBOX) == {"alice": 100, ops.SANDBOX: 0}
    holding = (await ledger.account("alice")).holding("memory")
    assert holding is not None and holding.used == 0
    [row] = await ledger.invocations()
    assert (row.status, row.fuel) == ("failed", 0)


async def test_a_program_deleted_during_its_call_does_nothing_and_refunds(
    ledger: Ledger, programs: Programs
) -> None:
    slow = (
        "def main(args, host):\n"
        "    n = 0\n"
        "    for i in range(60000):\n"
        "        n += i\n"
        "    return n\n"
    )
    await programs.write("bob", "bob/slow", slow, 1)
    results: list[object] = []

    async def call() -> None:
        results.append(await programs.invoke("alice", "bob/slow", {}, 7))

    started = anyio.Event()

    def listen(events: Sequence[Event]) -> None:
        if any(e.kind == EventKind.INVOCATION_STARTED for e in events):
            started.set()

    ledger.subscribe(listen)
    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await started.wait()  # the call holds its pay and runs: delete the program now
        await ledger.submit(ops.DeleteArtifact(actor="bob", artifact_id="bob/slow"))
    [done] = results
    assert not done.ok and done.failure is not None  # type: ignore[attr-defined]
    assert "was deleted or rewritten as data during the call" in done.failure.message  # type: ignore[attr-defined]
    assert await balances(ledger, "alice", "bob", "bob/slow") == {
        "alice": 100,
        "bob": 100,
        "bob/slow": 0,
    }


async def test_of_two_calls_acting_on_one_stored_value_only_one_commits(
    ledger: Ledger, programs: Programs
) -> None:
    once = (
        "def main(args, host):\n"
        "    if host.get('sold'):\n"
        "        raise ValueError('sold out')\n"
        "    for i in range(200000):\n"
        "        pass\n"
        "    host.set('sold', host.invoker)\n"
        "    host.transfer(host.owner, host.paid)\n"
        "    return 'yours'\n"
    )
    await programs.write("carol", "carol/once", once, 0)
    results = []

    async def buy(who: str) -> None:
        results.append((who, await programs.invoke(who, "carol/once", {}, 10)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(buy, "alice")
        tg.start_soon(buy, "bob")
    assert sorted(r.ok for _, r in results) == [False, True]
    [(winner, _)] = [(w, r) for w, r in results if r.ok]
    [(_, lost)] = [(w, r) for w, r in results if not r.ok]
    assert lost.failure is not None
    assert lost.failure.kind in ("Conflict", "ValueError")  # raced, or came second
    assert await ledger.program_state("carol/once", "sold") == f'"{winner}"'
    assert await ledger.scrip("carol") == 110
    assert await ledger.scrip("alice") + await ledger.scrip("bob") == 190


async def test_nothing_goes_to_system_principals_that_would_strand_it(
    ledger: Ledger, programs: Programs
) -> None:
    leak = (
        "def main(args, host):\n"
        "    out = []\n"
        "    for to in ('world', 'genesis_escrow', 'genesis_sandbox'):\n"
        "        try:\n"
        "            host.transfer(to, 1)\n"
        "        except HostError as e:\n"
        "            out.append(str(e))\n"
        "    return out\n"
    )
    await programs.write("bob", "bob/leak", leak, 0)
    done = await programs.invoke("alice", "bob/leak", {}, 3)
    assert done.ok and len(done.value) == 3
    assert "'world' is a system principal" in done.value[0]
    with pytest.raises(LedgerError, match="'world' is a system principal"):
        await ledger.submit(ops.Transfer(src="alice", dst="world", amount=1))
    assert await ledger.scrip("world") == 0


async def test_a_fee_is_paid_for_the_attempt(ledger: Ledger, executor: Executor) -> None:
    too_much = act.Invoke(
        action="invoke", artifact_id="genesis_ledger", method="transfer",
        args={"to": "bob", "amount": 1000},
    )  # fmt: skip
    refused = await executor.perform("alice", too_much)
    assert not refused.ok
    assert await ledger.scrip("alice") == 99  # the fee went before the refused transfer
    everything = act.Invoke(
        action="invoke", artifact_id="genesis_ledger", method="transfer",
        args={"to": "bob", "amount": 99},
    )  # fmt: skip
    broke = await executor.perform("alice", everything)
    assert not broke.ok  # 98 left after the fee: the fee cannot be dodged by spending it
    assert (await ledger.supply()).burned == 2
