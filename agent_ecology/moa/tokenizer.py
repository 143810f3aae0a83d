"""Tokenizers the MOA compiler can use: a small interface, and a byte-level one built in.

Any real tokenizer (a Hugging Face one, tiktoken, ...) can satisfy :class:`Tokenizer` with a
thin adapter. :class:`ByteTokenizer` needs nothing downloaded: UTF-8 bytes are ids 0-255 and
named special tokens follow, so every test and demo runs offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["DEFAULT_SPECIALS", "ByteTokenizer", "Tokenizer", "UnknownToken"]

DEFAULT_SPECIALS = ("<pad>", "<esc>", "<jump>", "<end>", "<eos>")
"""Padding after a program ends, the escape prefix, the jump (control) token, a zone's end."""


class UnknownToken(KeyError):
    """A special token name the tokenizer does not have."""


class Tokenizer(Protocol):
    """What the compiler and the driver need from a tokenizer."""

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]:
        """Text to token ids, with no special tokens added."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids to text; special tokens are written by name."""
        ...

    def special(self, name: str) -> int:
        """The id of a named special token; :class:`UnknownToken` if there is none."""
        ...


class ByteTokenizer:
    """UTF-8 bytes as ids 0-255, then named special tokens (``<pad>``, ``<esc>``, ...)."""

    def __init__(self, specials: Iterable[str] = DEFAULT_SPECIALS) -> None:
        names = list(dict.fromkeys(specials))
        if not names:
            raise ValueError("a ByteTokenizer needs at least one special token (the padding)")
        self._ids = {name: 256 + i for i, name in enumerate(names)}
        self._names = {i: name for name, i in self._ids.items()}

    @property
    def vocab_size(self) -> int:
        return 256 + len(self._ids)

    @property
    def specials(self) -> dict[str, int]:
        return dict(self._ids)

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        out: list[str] = []
        pending = bytearray()
        for i in ids:
            if 0 <= i < 256:
                pending.append(i)
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending.clear()
            out.append(self._names.get(i, f"<{i}?>"))
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)

    def special(self, name: str) -> int:
        try:
            return self._ids[name]
        except KeyError:
            known = ", ".join(self._ids)
            raise UnknownToken(f"no special token {name!r}; this tokenizer has: {known}") from None
