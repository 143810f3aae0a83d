"""The MOA: a batched, token-triggered state machine that drives constrained generation.

The tokenizer interface with a built-in byte tokenizer, the program description and its
compiler (``MOA.md``'s instruction tensors), a scalar reference implementation, the batched
module (``agent_ecology.moa.module.MOA``), a generation driver
(``agent_ecology.moa.driver.generate``) and a tiny seeded decoder for tests and demos
(``agent_ecology.moa.tiny.TinyDecoder``). Torch is imported only by this package.
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
