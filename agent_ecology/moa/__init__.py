"""The MOA: a batched, token-triggered state machine that drives constrained generation.

So far: the tokenizer interface with a built-in byte tokenizer, the program description and
its compiler (``MOA.md``'s instruction tensors), and a scalar reference implementation that
the batched module will be checked against. Torch is imported only by this package.
"""

from agent_ecology.moa.program import Program, ProgramError, ProgramSpec, Zone, compile_program
from agent_ecology.moa.reference import FEEDERS, ScalarMOA, Stepped
from agent_ecology.moa.tokenizer import DEFAULT_SPECIALS, ByteTokenizer, Tokenizer, UnknownToken

__all__ = [
    "DEFAULT_SPECIALS",
    "FEEDERS",
    "ByteTokenizer",
    "Program",
    "ProgramError",
    "ProgramSpec",
    "ScalarMOA",
    "Stepped",
    "Tokenizer",
    "UnknownToken",
    "Zone",
    "compile_program",
]
