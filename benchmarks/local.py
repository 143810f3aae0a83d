"""Local-model throughput: agent turns per second, batched versus one turn at a time.

    .venv/bin/python benchmarks/local.py [--agents 1 8 64 256] [--seconds 10]

For each number of agents, ``agents`` tasks think continuously (each submits a turn, waits
for its answer, submits the next) through the real batching service
(:class:`~agent_ecology.llm.local.TurnBatcher`) on the tiny random-weight model, on CPU,
twice in the same process:

- **one at a time** (the baseline): ``max_batch=1``, so the model runs one turn at a time;
- **batched**: ``max_batch`` = the number of agents, a 20 ms gathering window.

Every turn is the shipped configuration's: a context of 192 tokens fed by the MOA, up to
24 tokens of thought, the action chosen by jump, up to 48 tokens per free part. Turns
answered within ``--seconds`` (after one warm-up batch) are counted, over the time up to the
last of them; reported are turns per second for both, their ratio, and the share of turns
whose reply parsed into an action through the same parser remote replies go through.
"""

from __future__ import annotations

import argparse
import time

import anyio
import torch

from agent_ecology.agents.parser import ActionError, parse_action
from agent_ecology.llm.local import TurnBatcher
from agent_ecology.moa import ByteTokenizer
from agent_ecology.moa.tiny import TinyDecoder
from agent_ecology.moa.turn import turn_program


def context(agent: int, turn: int) -> str:
    # What an agent's context ends with (the model sees its last 192 tokens).
    return (
        f"Current time: 2026-11-23T10:{turn % 60:02d}:00Z. You are agent{agent:03d}, turn"
        f" {turn}. Your balances: scrip {17 * agent % 500}, disk {agent * 3}/1000 bytes,"
        f" compute {1.5 - turn / 100:.2f}/2.0, llm_rate {6000 - 40 * turn}/6000 tokens."
        " Your last action: note (ok). Recent events: agent007 wrote an artifact; the"
        " oracle resolves at 10:05:00. Reply with one action as JSON.\n"
    )


async def measure(
    model: TinyDecoder, turn_prog: object, agents: int, max_batch: int, seconds: float
) -> tuple[int, int, float]:
    """``(turns answered, turns that parsed, seconds)`` for ``agents`` thinking agents."""
    batcher = TurnBatcher(model, turn_prog, max_batch=max_batch, window=0.02)
    answered = parsed = 0
    try:
        await batcher.run("warmup", context(0, 0), seed=0)
        started = last = time.perf_counter()
        deadline = started + seconds

        async def agent(i: int) -> None:
            nonlocal answered, parsed, last
            n = 0
            while True:
                n += 1
                result = await batcher.run(f"a{i}", context(i, n), seed=i * 10_000 + n)
                now = time.perf_counter()
                if now > deadline:
                    return
                answered, last = answered + 1, now
                try:
                    parse_action(result.reply)
                    parsed += 1
                except ActionError:
                    pass

        with anyio.move_on_after(seconds + 0.001):
            async with anyio.create_task_group() as tg:
                for i in range(agents):
                    tg.start_soon(agent, i)
        # Up to the last answer counted: a batch cut by the deadline counts neither its
        # turns nor its time (batched answers come in bursts of a whole batch).
        elapsed = last - started
    finally:
        await batcher.aclose()
    return answered, parsed, elapsed


async def main(agent_counts: list[int], seconds: float) -> None:
    tokenizer = ByteTokenizer()
    turn_prog = turn_program(tokenizer)
    model = TinyDecoder(tokenizer.vocab_size, seed=0)
    print(
        f"tiny model on CPU ({torch.get_num_threads()} torch threads), {seconds:g} s per"
        " measurement; a turn feeds 192 context tokens and writes up to ~150"
    )
    print(
        f"{'agents':>6} | {'one at a time /s':>16} | {'batched /s':>10} | {'batched / one':>13}"
        f" | {'parsed':>13}"
    )
    print("-" * 72)
    for agents in agent_counts:
        one, one_ok, one_s = await measure(model, turn_prog, agents, 1, seconds)
        many, many_ok, many_s = await measure(model, turn_prog, agents, agents, seconds)
        one_rate, many_rate = one / one_s, many / many_s
        share = (one_ok + many_ok) / max(one + many, 1)
        print(
            f"{agents:>6} | {one_rate:>16.2f} | {many_rate:>10.2f} |"
            f" {many_rate / one_rate if one_rate else float('inf'):>12.1f}x"
            f" | {share:>6.1%} of {one + many}",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    anyio.run(main, args.agents, args.seconds)
