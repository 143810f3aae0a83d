"""Child process for the crash test: transfers until killed, logging what it knows.

Before each transfer it appends ``intent <op_id> <src> <dst> <amount>`` to the log; after the
ledger acknowledges it (after COMMIT) it appends ``ack <op_id>``. On start it first resends
every intent that has no ack, with the same op id, as a client retrying after a crash would.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from agent_ecology.ledger import InsufficientScrip, Ledger, ops

AGENTS = ["a", "b", "c", "d"]


async def main(db: Path, log: Path, round_no: int) -> None:
    ledger = await Ledger.open(db)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def note(line: str) -> None:
        os.write(fd, (line + "\n").encode())

    await ledger.submit(ops.EnsurePrincipal(principal_id="world", principal_kind="system"))
    for agent in AGENTS:
        await ledger.submit(ops.EnsurePrincipal(principal_id=agent))
        await ledger.submit(
            ops.Mint(dst=agent, amount=1000, authority="world", op_id=f"seed:{agent}")
        )

    intents: dict[str, tuple[str, str, int]] = {}
    acked: set[str] = set()
    for line in log.read_text().splitlines():  # noqa: ASYNC240 - a small file, before any work
        parts = line.split()
        if parts[:1] == ["intent"] and len(parts) == 5:
            intents[parts[1]] = (parts[2], parts[3], int(parts[4]))
        elif parts[:1] == ["ack"] and len(parts) == 2:
            acked.add(parts[1])

    async def send(op_id: str, src: str, dst: str, amount: int) -> None:
        try:
            await ledger.submit(ops.Transfer(src=src, dst=dst, amount=amount, op_id=op_id))
        except InsufficientScrip:
            note(f"refused {op_id}")
        else:
            note(f"ack {op_id}")

    for op_id, (src, dst, amount) in intents.items():
        if op_id not in acked:
            await send(op_id, src, dst, amount)
    note(f"ready {round_no}")

    rng = random.Random(round_no)
    counter = 0

    async def worker(w: int) -> None:
        nonlocal counter
        while True:
            counter += 1
            op_id = f"r{round_no}-w{w}-{counter}"
            src, dst = rng.sample(AGENTS, 2)
            amount = rng.randint(1, 50)
            note(f"intent {op_id} {src} {dst} {amount}")
            await send(op_id, src, dst, amount)

    await asyncio.gather(*(worker(w) for w in range(8)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
