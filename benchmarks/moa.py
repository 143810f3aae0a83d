"""MOA step latency, eager and compiled, on one CPU thread, and the aten ops in one step.

    .venv/bin/python benchmarks/moa.py [--batches 1 64 1024 16384] [--steps 200] [--rounds 5]
                                       [--no-compile] [--json out.json]

A 16-zone program (forced prompts, free zones, capturing zones, input zones, jumps) over a
32,000-token vocabulary drives B rows; every step gets B sampled tokens drawn in advance
(mostly ordinary tokens, some triggers, escapes and jump tokens), so only ``MOA.step`` is
timed. Rounds alternate the batch sizes so that machine noise hits them alike; each figure is
the median over rounds of the mean step time in a round, and every row is reset between
rounds (outside the timing).

The baseline is the same step at B = 1, measured in the same run: the targets are ratios
(at most 2x at B = 1,024 and 10x at B = 16,384, eager) plus at most 45 aten ops per eager
step, counted with a dispatch mode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from agent_ecology.moa import DEFAULT_SPECIALS, ByteTokenizer, ProgramSpec, Zone, compile_program
from agent_ecology.moa.module import MOA

VOCAB = 32_000
OP_TARGET = 45
RATIO_TARGETS = {1024: 2.0, 16384: 10.0}


def tokenizer() -> ByteTokenizer:
    extra = [f"<t{i}>" for i in range(VOCAB - 256 - len(DEFAULT_SPECIALS))]
    tok = ByteTokenizer([*DEFAULT_SPECIALS, *extra])
    assert tok.vocab_size == VOCAB
    return tok


def program_spec() -> ProgramSpec:
    """16 zones: the shape of an agent's turn, twice, with loops back."""
    zones: list[Zone] = []
    for turn in range(2):
        z = f"t{turn}"
        zones += [
            Zone(f"{z}-context", prompt=f"Turn {turn}. You hold 40 scrip. ", timeout=0),
            Zone(f"{z}-think", prompt="Think: ", timeout=24, tags=("free",)),
            Zone(f"{z}-ask", prompt="\nAction JSON: ", timeout=0),
            Zone(f"{z}-action", timeout=32, captures="action", tags=("free", "action")),
            Zone(f"{z}-result", prompt="\nResult: ", feeds_input=True, timeout=0),
            Zone(f"{z}-reflect", timeout=16, captures="note", jump_to=f"{z}-think"),
            Zone(f"{z}-note", prompt="\nNote: ", timeout=8, captures="note"),
            Zone(f"{z}-end", prompt="\n", timeout=0, jump_to=0),
        ]
    return ProgramSpec(zones=tuple(zones), tag_names=("free", "action"))


def sampled(tok: ByteTokenizer, steps: int, rows: int, seed: int) -> torch.Tensor:
    """(steps, rows) tokens: 90% ordinary, then triggers, escapes and jumps."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (steps, rows), generator=g)
    special = torch.tensor([tok.special(n) for n in ("<end>", "<end>", "<esc>", "<jump>")])
    pick = torch.randint(0, len(special), (steps, rows), generator=g)
    mask = torch.rand(steps, rows, generator=g) < 0.10
    return torch.where(mask, special[pick], tokens)


class OpCount(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch: unannotated, and a super() call is not excluded by untyped_calls_exclude
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def count_ops(moa: MOA, tokens: torch.Tensor) -> list[str]:
    moa.step(tokens)  # warm: the first call may set things up
    log = OpCount()
    with log:
        moa.step(tokens)
    return log.ops


def time_round(step: Callable[[torch.Tensor], Any], moa: MOA, tokens: torch.Tensor) -> float:
    """Mean seconds per step over one round (the rows reset first, untimed)."""
    moa.reset()
    for r in range(min(moa.batch_size, 64)):  # inputs for the result zones, untimed
        moa.set_input(r, [ord("o"), ord("k")])
    start = time.perf_counter_ns()
    for t in range(tokens.shape[0]):
        step(tokens[t])
    return (time.perf_counter_ns() - start) / tokens.shape[0] / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024, 16384])
    parser.add_argument("--steps", type=int, default=200, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="eager only (no compiler)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if 1 not in args.batches:
        parser.error("the batch sizes must include 1: it is the baseline")

    torch.set_num_threads(1)
    tok = tokenizer()
    program = compile_program(program_spec(), tok)
    print(f"torch {torch.__version__}, 1 thread, vocabulary {VOCAB}, {program.length} zones")

    ops = count_ops(MOA(program, 64), sampled(tok, 1, 64, seed=0)[0])
    print(f"aten ops in one eager step: {len(ops)} (target <= {OP_TARGET})")

    modes: dict[str, dict[int, Callable[[torch.Tensor], Any]]] = {"eager": {}}
    moas: dict[tuple[str, int], MOA] = {}
    tokens = {b: sampled(tok, args.steps, b, seed=b) for b in args.batches}
    for b in args.batches:
        moas["eager", b] = MOA(program, b)
        modes["eager"][b] = moas["eager", b].step
    if not args.no_compile:
        modes["compiled"] = {}
        for b in args.batches:
            moa = moas["compiled", b] = MOA(program, b)
            compiled = torch.compile(moa.step, fullgraph=True, dynamic=False)
            started = time.perf_counter()
            compiled(tokens[b][0])  # compile now, not in the first round
            print(f"compiled B={b} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            modes["compiled"][b] = compiled

    samples: dict[tuple[str, int], list[float]] = {key: [] for key in moas}
    for mode, steps in modes.items():  # one warm round each, untimed
        for b, step in steps.items():
            time_round(step, moas[mode, b], tokens[b][:20])
    for r in range(args.rounds):
        for mode, steps in modes.items():
            for b, step in steps.items():
                samples[mode, b].append(time_round(step, moas[mode, b], tokens[b]))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    median = {key: statistics.median(values) for key, values in samples.items()}
    print()
    header = f"{'B':>6} | {'eager us/step':>13} | {'x B=1':>6} | {'ns/row':>7}"
    if "compiled" in modes:
        header += f" | {'compiled us/step':>16} | {'x B=1':>6} | {'eager/compiled':>14}"
    print(header)
    print("-" * len(header))
    figures: dict[str, Any] = {"ops": len(ops), "batches": {}}
    for b in args.batches:
        e = median["eager", b]
        line = f"{b:>6} | {e * 1e6:>13.1f} | {e / median['eager', 1]:>6.2f} | {e / b * 1e9:>7.1f}"
        row: dict[str, float] = {"eager_s": e, "eager_ratio": e / median["eager", 1]}
        if "compiled" in modes:
            c = median["compiled", b]
            ratio = c / median["compiled", 1]
            line += f" | {c * 1e6:>16.1f} | {ratio:>6.2f} | {e / c:>14.2f}"
            row |= {"compiled_s": c, "compiled_ratio": ratio}
        figures["batches"][b] = row
        print(line)
    print()
    met = len(ops) <= OP_TARGET
    print(f"ops per eager step: {len(ops)} <= {OP_TARGET}: {'met' if met else 'MISSED'}")
    for b, target in RATIO_TARGETS.items():
        if b in args.batches:
            ratio = median["eager", b] / median["eager", 1]
            ok = ratio <= target
            met &= ok
            print(f"eager B={b} / B=1: {ratio:.2f} <= {target:g}: {'met' if ok else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
