"""Submissions on a real ledger and sandbox: paid once, first N, refusals with reasons,
tools paid, deadlines, races, and hidden cases that reach no answer, event or context."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from agent_ecology.agents import Executor, Outcome
from agent_ecology.agents import actions as act
from agent_ecology.agents.context import Observation, render
from agent_ecology.clock import ManualClock
from agent_ecology.genesis import Genesis
from agent_ecology.genesis.tasks import make_tasks_artifact
from agent_ecology.ledger import Ledger, LedgerError, SubmissionStatus, TaskRefused, ops
from agent_ecology.programs import Programs
from agent_ecology.tasks import OpenTask
from tests.conftest import T0
from tests.programs.conftest import SECONDS_PER_FUEL
from tests.tasks.conftest import REVERSE, SECRET, BoardFactory, task


async def compute(ledger: Ledger, who: str, now: float) -> float:
    bucket = (await ledger.account(who)).bucket("compute")
    assert bucket is not None
    return bucket.available(now)


async def test_a_right_solution_is_paid_once_and_a_second_submission_is_refused(
    ledger: Ledger, programs: Programs, make_board: BoardFactory, clock: ManualClock
) -> None:
    board = await make_board()
    await programs.write("alice", "alice/rev", REVERSE, 0)
    before = await compute(ledger, "alice", clock.now())
    verdict = await board.submit("alice", "rev", "alice/rev")
    assert (verdict.status, verdict.cases_passed, verdict.cases_total) == ("solved", 3, 3)
    assert verdict.reward == 25 and verdict.reason is None
    assert await ledger.scrip("alice") == 125
    assert before - await compute(ledger, "alice", clock.now()) == pytest.approx(
        verdict.fuel * SECONDS_PER_FUEL
    )
    assert verdict.fuel > 3 * 500_000  # three cases ran
    supply = await ledger.supply()
    assert supply.is_conserved
    with pytest.raises(TaskRefused, match="paid for task 'rev' already") as refused:
        await board.submit("alice", "rev", "alice/rev")
    assert refused.value.code == "already_solved"
    assert await ledger.scrip("alice") == 125
    [result] = await ledger.task_results()
    assert (result.agent_id, result.status, result.minted, result.cases_passed) == (
        "alice",
        "solved",
        25,
        3,
    )


async def test_the_first_n_solvers_are_paid_and_the_next_is_told_the_task_is_taken(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board()  # solvers: 2
    for agent in ("alice", "bob", "carol"):
        await programs.write(agent, f"{agent}/rev", REVERSE, 0)
    assert (await board.submit("alice", "rev", "alice/rev")).solved
    assert board.open_for("carol", T0)[0].solvers_left == 1
    assert (await board.submit("bob", "rev", "bob/rev")).solved
    with pytest.raises(TaskRefused, match=r"task 'rev' is taken: its 2 paid solver") as taken:
        await board.submit("carol", "rev", "carol/rev")
    assert taken.value.code == "task_taken"
    assert await ledger.scrip("carol") == 100
    assert board.open_for("carol", T0) == []
    [standing] = await ledger.task_board()
    assert (standing.solved, standing.solvers_left, standing.submissions) == (2, 0, 2)


WRONG = "def main(args, host):\n    return args['text'][::-1]\n"
CRASH = "def main(args, host):\n    return len(args['text']) / 0\n"
RUNAWAY = "def main(args, host):\n    while True:\n        pass\n"
IMPORTS = "import os\n\ndef main(args, host):\n    return os.getcwd()\n"
RECURSES = "def main(args, host):\n    def f(n):\n        return f(n + 1)\n    return f(0)\n"


@pytest.mark.parametrize(
    ("source", "passed", "reason"),
    [
        (WRONG, 1, "returned a wrong answer"),  # the empty text reverses to itself
        (CRASH, 0, "raised ZeroDivisionError"),
        (RUNAWAY, 0, "ran out of fuel (a case may use 30,000,000 instructions)"),
        (IMPORTS, 0, "raised ImportError: import only the sandbox's 22 allowed modules"),
        (RECURSES, 0, "raised RecursionError"),
    ],
    ids=["wrong", "crash", "runaway", "import", "recursion"],
)
async def test_a_failing_solution_is_refused_with_its_reason_and_charged_its_compute(
    ledger: Ledger,
    programs: Programs,
    make_board: BoardFactory,
    clock: ManualClock,
    source: str,
    passed: int,
    reason: str,
) -> None:
    board = await make_board()
    await programs.write("alice", "alice/try", source, 0)
    before = await compute(ledger, "alice", clock.now())
    verdict = await board.submit("alice", "rev", "alice/try")
    assert verdict.status == "failed" and verdict.reward == 0
    assert verdict.cases_passed == passed and verdict.cases_total == 3
    assert verdict.reason is not None and verdict.reason.startswith(reason)
    charged = before - await compute(ledger, "alice", clock.now())
    assert charged == pytest.approx(verdict.fuel * SECONDS_PER_FUEL) and charged > 0
    assert await ledger.scrip("alice") == 100
    if source is RUNAWAY:  # stopped at the first case: the others would run away too
        assert verdict.fuel == 30_000_000
    # A failed submission leaves the task open: the agent may try again.
    assert [t.id for t in board.open_for("alice", clock.now())] == ["rev"]


TOOL = "def main(args, host):\n    return ' '.join(reversed(args['text'].split()))\n"
USES_TOOL = (
    "def main(args, host):\n    return host.invoke('bob/reverser', {'text': args['text']}, 3)\n"
)


async def test_a_solution_that_calls_a_priced_tool_pays_its_owner_for_every_case(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board()
    await programs.write("bob", "bob/reverser", TOOL, 3)
    await programs.write("alice", "alice/rev", USES_TOOL, 0)
    verdict = await board.submit("alice", "rev", "alice/rev", ["bob/reverser"])
    assert verdict.solved and verdict.tools_paid == 9  # three cases, 3 scrip each
    assert await ledger.scrip("bob") == 109
    assert await ledger.scrip("alice") == 100 - 9 + 25
    assert await ledger.scrip(ops.SANDBOX) == 0  # nothing left held
    [tool] = await ledger.programs(ids=("bob/reverser",))
    assert (tool.invocations, tool.succeeded, tool.revenue, tool.scrip_held) == (3, 3, 9, 0)
    assert (await ledger.supply()).is_conserved


async def test_a_tool_the_submission_does_not_name_is_refused_while_the_cases_run(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board()
    await programs.write("bob", "bob/reverser", TOOL, 3)
    await programs.write("alice", "alice/rev", USES_TOOL, 0)
    verdict = await board.submit("alice", "rev", "alice/rev")
    assert (verdict.status, verdict.reason, verdict.tools_paid) == (
        "failed",
        "raised HostError",
        0,
    )
    assert await ledger.scrip("bob") == 100 and await ledger.scrip("alice") == 100
    await programs.write("bob", "bob/dear", TOOL, 100)
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="alice/notes", content="x"))
    with pytest.raises(LedgerError, match="needs 300 scrip but has 100"):
        await board.submit("alice", "rev", "alice/rev", ["bob/dear"])
    with pytest.raises(LedgerError, match="tools: 'alice/notes' is a data artifact"):
        await board.submit("alice", "rev", "alice/rev", ["alice/notes"])


# A tool the submitter owns (or a colluding agent's), called once per set bit of a hidden
# character, would spell the input out in what it is paid, in its call counters or in its
# invocation rows, if those followed the calls. They follow only the submission's names.
SPELLS = """
def main(args, host):
    text = args['text']
    for bit in range(8):
        if text and (ord(text[0]) >> bit) & 1:
            host.invoke('alice/bit', {}, 1)
    return ' '.join(reversed(text.split()))
"""


async def test_what_a_check_pays_its_tools_does_not_depend_on_the_cases(
    ledger: Ledger, programs: Programs, make_board: BoardFactory, db_path: Path
) -> None:
    other = task("other", hidden=[{"args": {"text": "A"}, "expected": "A"}] * 3)
    board = await make_board(task(), other)
    await programs.write("alice", "alice/bit", "def main(args, host):\n    return 1\n", 1)
    await programs.write("alice", "alice/spell", SPELLS, 0)
    seen = []
    for task_id in ("rev", "other"):
        verdict = await board.submit("alice", task_id, "alice/spell", ["alice/bit"])
        assert verdict.solved
        [tool] = await ledger.programs(ids=("alice/bit",))
        seen.append((verdict.tools_paid, verdict.fuel, tool.invocations, tool.revenue))
    # The same payment for both (3 cases at 1 scrip), whatever the inputs made it call.
    assert seen[0][0] == seen[1][0] == 3
    assert (seen[0][2], seen[1][2]) == (3, 6) and (seen[0][3], seen[1][3]) == (3, 6)
    rows = (
        sqlite3.connect(db_path)
        .execute("SELECT id, pay FROM invocations WHERE artifact_id = 'alice/bit'")
        .fetchall()
    )
    assert len(rows) == 2 and all(pay == 3 for _id, pay in rows)  # one row per submission


async def test_fuel_is_charged_and_told_in_steps_of_an_eighth_of_a_case(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    spin = (
        "def main(args, host):\n"
        "    for _ in range(len(args['text']) * 50):\n"
        "        pass\n"
        "    return ' '.join(reversed(args['text'].split()))\n"
    )
    board = await make_board(task(solvers=3))
    await programs.write("alice", "alice/spin", spin, 0)
    await programs.write("bob", "bob/rev", REVERSE, 0)
    step = 30_000_000 // 8
    spun = await board.submit("alice", "rev", "alice/spin")
    plain = await board.submit("bob", "rev", "bob/rev")
    assert spun.solved and plain.solved
    assert spun.fuel % step == 0 and plain.fuel % step == 0
    assert plain.fuel == step  # three cases of about 0.7M instructions each: one step
    assert step <= spun.fuel <= 3 * step  # the loops' fuel is seen only to within a step
    assert spun.compute_seconds == pytest.approx(spun.fuel * SECONDS_PER_FUEL)


LEAKS = """
class Leak(Exception):
    pass

def main(args, host):
    text = args['text']
    host.log('log:', text)
    host.set('seen', text)
    if text:
        host.transfer('bob', 1)
        raise type(text.replace('-', '_'), (Exception,), {})('raised: ' + text)
    return text + '!'
"""


async def test_hidden_inputs_reach_no_answer_event_row_or_context(
    ledger: Ledger,
    programs: Programs,
    make_board: BoardFactory,
    genesis: Genesis,
    clock: ManualClock,
    db_path: Path,
) -> None:
    board = await make_board()
    await programs.write("alice", "alice/leak", LEAKS, 0)
    await ledger.submit(ops.Transfer(src="alice", dst="alice/leak", amount=5))
    genesis.artifacts["genesis_tasks"] = make_tasks_artifact(board)
    executor = Executor(ledger, genesis, clock, check_model=lambda m: None, programs=programs)

    async def call(method: str, **args: str) -> Outcome:
        action = act.Invoke(
            action="invoke", artifact_id="genesis_tasks", method=method, args=dict(args)
        )
        return await executor.perform("alice", action)

    answers = [(await call("list")).to_json(), (await call("read", task_id="rev")).to_json()]
    outcome = await call("submit", task_id="rev", artifact_id="alice/leak")
    assert not outcome.ok and outcome.code == "task_failed"
    assert outcome.data["reason"] == "raised an exception of a class it defines"
    assert outcome.data["cases_passed"] == 0
    answers.append(outcome.to_json())
    results = await call("results")
    answers.append(results.to_json())
    assert results.data["results"][0]["status"] == "failed"
    obs = Observation(
        agent_id="alice",
        now=clock.now(),
        turn=1,
        account=await ledger.account("alice"),
        config={},
        last_result=outcome.to_json(),
        events=await ledger.events(after=0, limit=1000),
        tasks=board.open_for("alice", clock.now()),
    )
    context = "".join(m.content for m in render(obs, "", max_chars=50_000))
    assert "rev: Reverse the words" in context  # the task is shown, its cases are not
    text = json.dumps(answers) + context
    conn = sqlite3.connect(db_path)
    try:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in conn.execute(f"SELECT * FROM {table}"):
                text += repr(row)
    finally:
        conn.close()
    assert "alice/leak" in text and "raise type" in text  # the rows were read
    for secret in (SECRET, SECRET.replace("-", "_")):
        assert secret not in text, f"{secret!r} leaked"
    assert await ledger.scrip("alice/leak") == 5 and await ledger.scrip("bob") == 100
    assert await ledger.program_state("alice/leak", "seen") is None


async def test_the_last_paid_slot_is_paid_once_when_submissions_race(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board(task(solvers=1))
    slow = (
        "def main(args, host):\n    for _ in range(40000):\n        pass\n"
        "    return ' '.join(reversed(args['text'].split()))\n"
    )
    for agent in ("alice", "bob", "carol"):
        await programs.write(agent, f"{agent}/rev", slow, 0)
    outcomes: dict[str, str] = {}

    async def go(agent: str) -> None:
        try:
            outcomes[agent] = (await board.submit(agent, "rev", f"{agent}/rev")).status
        except TaskRefused as exc:
            outcomes[agent] = exc.code

    async with anyio.create_task_group() as tg:
        for agent in ("alice", "bob", "carol"):
            tg.start_soon(go, agent)
    assert sorted(outcomes.values()).count("solved") == 1, outcomes
    assert set(outcomes.values()) <= {"solved", "taken", "task_taken"}
    rich = [a for a in outcomes if await ledger.scrip(a) == 125]
    assert len(rich) == 1 and (await ledger.supply()).is_conserved


async def test_two_finished_submissions_for_the_last_slot_mint_once(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    # Both started while the slot was free; the one that finishes second is told it was taken.
    await make_board(task(solvers=1))
    for agent in ("alice", "bob"):
        await programs.write(agent, f"{agent}/rev", REVERSE, 0)
        await ledger.submit(
            ops.StartSubmission(
                submission_id=f"s-{agent}", task_id="rev", submitter=agent,
                artifact_id=f"{agent}/rev", memory_bytes=1, cases_total=3,
            )
        )  # fmt: skip
    done = []
    async with anyio.create_task_group() as tg:
        for agent in ("alice", "bob"):

            async def finish(agent: str = agent) -> None:
                receipt = await ledger.submit(
                    ops.FinishSubmission(
                        submission_id=f"s-{agent}", passed=3, fuel=1, compute_seconds=0.0,
                        authority="world",
                    )
                )  # fmt: skip
                done.append(receipt.details["status"])

            tg.start_soon(finish)
    assert sorted(done) == ["solved", "taken"]
    assert sorted([await ledger.scrip("alice"), await ledger.scrip("bob")]) == [100, 125]


async def test_open_for_is_honoured_with_a_manual_clock(
    ledger: Ledger, programs: Programs, make_board: BoardFactory, clock: ManualClock
) -> None:
    board = await make_board(task(open_for=60.0))
    await programs.write("alice", "alice/wrong", WRONG, 0)
    await programs.write("bob", "bob/rev", REVERSE, 0)
    clock.advance(59.5)
    assert board.open_for("bob", clock.now())[0].closes_at == T0 + 60
    assert (await board.submit("alice", "rev", "alice/wrong")).status == "failed"
    clock.advance(0.5)
    assert board.open_for("bob", clock.now()) == []
    with pytest.raises(TaskRefused, match=r"task 'rev' closed at unix 1000060") as closed:
        await board.submit("bob", "rev", "bob/rev")
    assert closed.value.code == "task_closed"
    assert await ledger.scrip("bob") == 100


async def test_a_deadline_date_closes_the_task(
    ledger: Ledger, programs: Programs, make_board: BoardFactory, clock: ManualClock
) -> None:
    when = datetime.fromtimestamp(T0 + 10, tz=UTC).replace(tzinfo=None)  # bare: UTC
    board = await make_board(task(deadline=when))
    await programs.write("bob", "bob/rev", REVERSE, 0)
    clock.advance(10)
    with pytest.raises(TaskRefused, match="closed"):
        await board.submit("bob", "rev", "bob/rev")


CHECKED = {
    "args": {"xs": "list of int"},
    "returns": "the same ints in any order with each even one before every odd one",
    "examples": [{"args": {"xs": [1, 2]}}],
    "hidden": [{"args": {"xs": [3, 4, 5, 6]}}, {"args": {"xs": []}}, {"args": {"xs": [7]}}],
    "checker": (
        "def check(args, output):\n"
        "    if sorted(output) != sorted(args['xs']):\n"
        "        return False\n"
        "    seen_odd = False\n"
        "    for x in output:\n"
        "        if x % 2:\n"
        "            seen_odd = True\n"
        "        elif seen_odd:\n"
        "            return False\n"
        "    return True\n"
    ),
}


async def test_a_checker_accepts_any_right_answer_and_refuses_a_wrong_one(
    programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board(task("evens", solvers=3, **CHECKED))
    await programs.write(
        "alice", "alice/evens",
        "def main(args, host):\n    return sorted(args['xs'], key=lambda x: x % 2)\n", 0,
    )  # fmt: skip
    await programs.write(
        "bob", "bob/evens",
        "def main(args, host):\n    return [x for x in args['xs'] if x % 2 == 0]"
        " + [x for x in reversed(args['xs']) if x % 2]\n", 0,
    )  # fmt: skip
    await programs.write(
        "carol", "carol/evens", "def main(args, host):\n    return args['xs']\n", 0
    )
    assert (await board.submit("alice", "evens", "alice/evens")).solved
    assert (await board.submit("bob", "evens", "bob/evens")).solved
    wrong = await board.submit("carol", "evens", "carol/evens")
    assert (wrong.cases_passed, wrong.reason) == (2, "returned a wrong answer")


async def test_refusals_before_any_case_runs_hold_and_charge_nothing(
    ledger: Ledger, programs: Programs, make_board: BoardFactory, clock: ManualClock
) -> None:
    board = await make_board()
    await programs.write("bob", "bob/rev", REVERSE, 0)
    await ledger.submit(ops.WriteArtifact(actor="alice", artifact_id="alice/notes", content="x"))
    cases = [
        ("nope", "bob/rev", "bob", "unknown_task", "there is no task 'nope'; the tasks are: rev"),
        ("rev", "bob/rev", "alice", "not_permitted", "owned by 'bob'; submit a program you own"),
        ("rev", "alice/notes", "alice", "invalid_request", "is a data artifact; submit a program"),
        ("rev", "alice/none", "alice", "unknown_artifact", "alice/none"),
    ]
    before = await compute(ledger, "alice", clock.now())
    for task_id, artifact, agent, code, message in cases:
        with pytest.raises(Exception, match=message) as refused:
            await board.submit(agent, task_id, artifact)
        assert getattr(refused.value, "code", None) == code
    await programs.write("carol", "carol/dear", REVERSE, 100)
    with pytest.raises(Exception, match="needs 300 scrip but has 100"):
        await board.submit("bob", "rev", "bob/rev", ["carol/dear"])
    assert await compute(ledger, "alice", clock.now()) == before
    assert await ledger.task_results() == [] and await ledger.scrip(ops.SANDBOX) == 0


async def test_a_world_without_programs_lists_tasks_but_checks_none(
    ledger: Ledger, make_board: BoardFactory
) -> None:
    board = await make_board(programs=None)
    assert board.open_for("alice", T0) == []  # listed, but open to nobody
    assert [t.id for t in board.standings()] == ["rev"]
    with pytest.raises(TaskRefused, match="runs no programs") as refused:
        await board.submit("alice", "rev", "alice/rev")
    assert refused.value.code == "programs_disabled"


async def test_a_submission_left_running_by_a_crash_gives_its_pay_back_at_start(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    await make_board()
    await programs.write("alice", "alice/rev", REVERSE, 0)
    await programs.write("carol", "carol/tool", TOOL, 2)
    held = (await ledger.account("alice")).holding("memory")
    assert held is not None and held.used == 0
    await ledger.submit(
        ops.StartSubmission(
            submission_id="s1", task_id="rev", submitter="alice", artifact_id="alice/rev",
            tools='{"tools": ["carol/tool"]}', memory_bytes=programs.memory_held, cases_total=3,
        )
    )  # fmt: skip
    assert await ledger.scrip("alice") == 94  # the tool's price for each of 3 cases, held
    board = await make_board()  # the next run opens the board: it abandons what was left
    assert await ledger.scrip("alice") == 100 and await ledger.scrip(ops.SANDBOX) == 0
    memory = (await ledger.account("alice")).holding("memory")
    assert memory is not None and memory.used == 0
    [result] = await ledger.task_results()
    assert result.status == SubmissionStatus.ABANDONED and result.minted == 0
    assert (await board.submit("alice", "rev", "alice/rev")).solved  # it may try again


async def test_relisting_keeps_when_a_task_opened_and_withdraws_a_removed_one(
    ledger: Ledger, programs: Programs, make_board: BoardFactory, clock: ManualClock
) -> None:
    await make_board(task(open_for=100.0), task("other"))
    clock.advance(50)
    board = await make_board(task(open_for=100.0, reward=30))  # changed, and "other" is gone
    [standing] = board.standings()
    assert (standing.id, standing.reward, standing.closes_at) == ("rev", 30, T0 + 100)
    withdrawn = [t for t in await ledger.task_board(listed_only=False) if not t.listed]
    assert [t.id for t in withdrawn] == ["other"]
    with pytest.raises(TaskRefused, match="no task 'other'"):
        await board.submit("alice", "other", "alice/rev")
    clock.advance(60)  # rev closed at T0 + 100; listed again after a withdrawal, it reopens
    board = await make_board(task("other", open_for=100.0))  # rev is withdrawn now
    assert [(t.id, t.closes_at) for t in board.standings()] == [("other", T0 + 210)]
    clock.advance(5)
    board = await make_board(task(open_for=100.0, reward=30), task("other", open_for=100.0))
    assert {t.id: t.closes_at for t in board.standings()} == {"rev": T0 + 215, "other": T0 + 210}


async def test_a_task_that_closes_while_a_submission_is_checked_does_not_pay_it(
    ledger: Ledger, programs: Programs, make_board: BoardFactory, clock: ManualClock
) -> None:
    await make_board(task(open_for=60.0))
    await programs.write("alice", "alice/rev", REVERSE, 0)
    await ledger.submit(
        ops.StartSubmission(
            submission_id="s1", task_id="rev", submitter="alice", artifact_id="alice/rev",
            memory_bytes=1, cases_total=3,
        )
    )  # fmt: skip
    clock.advance(61)
    done = await ledger.submit(
        ops.FinishSubmission(
            submission_id="s1", passed=3, fuel=1, compute_seconds=0.0, authority="world"
        )
    )
    assert done.details["status"] == "closed" and done.details["reward"] == 0
    assert "closed while it was checked" in done.details["reason"]
    assert await ledger.scrip("alice") == 100


async def test_an_agent_has_a_bounded_number_of_attempts_at_a_task(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board(task(attempts=2))
    await programs.write("alice", "alice/wrong", WRONG, 0)
    for _ in range(2):
        assert (await board.submit("alice", "rev", "alice/wrong")).status == "failed"
    with pytest.raises(TaskRefused, match="used your 2 submissions to task 'rev'") as used:
        await board.submit("alice", "rev", "alice/wrong")
    assert used.value.code == "attempts_used"
    assert [t.id for t in board.open_for("bob", T0)] == ["rev"]


async def test_one_agents_two_submissions_at_once_are_paid_once(
    ledger: Ledger, programs: Programs, make_board: BoardFactory
) -> None:
    board = await make_board()
    await programs.write("alice", "alice/a", REVERSE, 0)
    await programs.write("alice", "alice/b", REVERSE, 0)
    outcomes: list[str] = []

    async def go(artifact: str) -> None:
        try:
            outcomes.append((await board.submit("alice", "rev", artifact)).status)
        except LedgerError as exc:  # already paid, or its memory is held by the other one
            outcomes.append(exc.code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(go, "alice/a")
        tg.start_soon(go, "alice/b")
    assert sorted(outcomes)[1] == "solved", outcomes
    assert sorted(outcomes)[0] in ("already_solved", "insufficient_resource"), outcomes
    assert await ledger.scrip("alice") == 125


async def test_the_context_shows_the_easiest_open_tasks_first_when_room_is_short(
    ledger: Ledger, clock: ManualClock
) -> None:
    tasks = [OpenTask(f"t{i:02}", f"Task {i}", 10 * i, 3, 1 + i // 8, None) for i in range(40)]
    obs = Observation(
        agent_id="alice",
        now=clock.now(),
        turn=1,
        account=await ledger.account("alice"),
        config={},
        tasks=tasks,
    )
    user = render(obs, "", max_chars=4000)[1].content
    assert "- t00: Task 0 (difficulty 1): 0 scrip, 3 paid slot(s) left" in user
    shown = [t.id for t in tasks if f"- {t.id}: " in user]
    assert shown == [t.id for t in tasks[: len(shown)]] and 0 < len(shown) < 40
    assert f"({40 - len(shown)} more not shown)" in user
