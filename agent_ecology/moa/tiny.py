"""A tiny decoder-only transformer with seeded random weights, for tests and demos.

It is a real model loop (embeddings, causal self-attention with a key-value cache, an MLP,
logits over the vocabulary) with no download: what it writes is noise, which is exactly what
the MOA must constrain. Shape legend: B batch, T new tokens, S cached + new, D model width,
H heads, V vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["KVCache", "TinyDecoder"]


class KVCache:
    """Keys and values of every layer, in buffers that grow by doubling.

    Appending a step writes into the buffer instead of concatenating (a ``torch.cat`` per
    layer per step copies the whole cache: quadratic in the sequence's length).
    """

    def __init__(self, layers: int) -> None:
        self.length = 0
        self.keys: list[Tensor | None] = [None] * layers
        self.values: list[Tensor | None] = [None] * layers

    def extend(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append ``k``/``v`` ``(B, H, T, D/H)`` to ``layer``; its keys and values so far."""
        start, t = self.length, k.shape[2]
        keys, values = self.keys[layer], self.values[layer]
        if keys is None or values is None or start + t > keys.shape[2]:
            size = max(64, 2 * (start + t))
            grown_k = k.new_empty(k.shape[0], k.shape[1], size, k.shape[3])
            grown_v = v.new_empty(grown_k.shape)
            if keys is not None and values is not None:
                grown_k[:, :, :start] = keys[:, :, :start]
                grown_v[:, :, :start] = values[:, :, :start]
            keys, values = self.keys[layer], self.values[layer] = grown_k, grown_v
        keys[:, :, start : start + t] = k
        values[:, :, start : start + t] = v
        return keys[:, :, : start + t], values[:, :, : start + t]


class _Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=2)  # (B, T, D) each
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        k, v = cache.extend(layer, k, v)  # (B, H, S, D/H): cached and new
        s = k.shape[2]
        # causal over the new tokens, full over the cache (one new token sees everything)
        mask = (
            None
            if t == 1
            else torch.ones(t, s, dtype=torch.bool, device=x.device).tril(diagonal=s - t)
        )
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, D/H)
        x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
        x = x + self.mlp(self.norm2(x))
        return x


class TinyDecoder(nn.Module):
    """``forward(ids (B, T), cache) -> (logits (B, T, V), cache)``."""

    POSITIONS = 4096  # the longest sequence it takes

    def __init__(
        self, vocab_size: int, *, width: int = 32, layers: int = 2, heads: int = 2, seed: int = 0
    ) -> None:
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(self.POSITIONS, width)
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        torch.random.set_rng_state(generator_state)
        self.eval()

    @torch.no_grad()
    def forward(self, ids: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        if cache is None:
            cache = KVCache(len(self.blocks))
        start = cache.length
        if start + ids.shape[1] > self.POSITIONS:
            raise ValueError(f"TinyDecoder has {self.POSITIONS} positions; this is longer")
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.embed(ids) + self.position(positions)[None]  # (B, T, D)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        cache.length = start + ids.shape[1]
        return self.head(self.norm(x)), cache
