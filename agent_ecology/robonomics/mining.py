"""Torq mining: how a robot in a TorqFountain turns TokenTorq into Torq, one tick at a time.

The seed gives the shape, not the formula; this is ours. In tick k (0-based) of a task that
lasts ``n`` ticks, at progress ``p = (k + 1/2) / n``:

    draw  = draw[kind] * tick_rate                                  TokenTorq drawn this tick
    rate  = base_rate * experience * curve(p) * (reference_tick_rate / tick_rate) ** elasticity
    torq  = draw * rate

    experience = 1 + learning * (1 - exp(-done / learning_scale))   done: tasks of this kind
    curve(p)   = (1 + shape[kind]) * p ** shape[kind]                mean 1 over the task

So:

- the more tasks of the same kind a robot has done, the more it mines (saturating at
  ``1 + learning``);
- a complex task (``shape > 0``, ``draw`` larger) starts slowly (``curve`` near 0) and ends
  high, drawing more TokenTorq and making more Torq in all; a simple task (``shape = 0``) is
  flat;
- with ``0 <= elasticity < 1``, a lower ``tick_rate`` gives more Torq per unit of TokenTorq
  (``rate`` rises as ``tick_rate ** -elasticity``) but less Torq per tick (``torq`` falls as
  ``tick_rate ** (1 - elasticity)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Mined", "MiningParams", "mine"]


@dataclass(frozen=True, slots=True)
class MiningParams:
    base_rate: float = 1.0
    learning: float = 1.0
    learning_scale: float = 3.0
    elasticity: float = 0.5
    reference_tick_rate: float = 1.0
    draw: dict[str, float] = field(default_factory=lambda: {"complex": 1.5, "simple": 1.0})
    shape: dict[str, float] = field(default_factory=lambda: {"complex": 2.0, "simple": 0.0})


@dataclass(frozen=True, slots=True)
class Mined:
    draw: float  # TokenTorq drawn this tick
    rate: float  # Torq per unit of TokenTorq
    torq: float


def mine(
    params: MiningParams, *, kind: str, tick: int, ticks: int, done: int, tick_rate: float
) -> Mined:
    """Torq mined in tick ``tick`` (0-based) of a ``ticks``-long task of ``kind``."""
    if tick_rate <= 0:
        return Mined(0.0, 0.0, 0.0)
    progress = (tick + 0.5) / ticks
    shape = params.shape[kind]
    curve = (1.0 + shape) * progress**shape
    experience = 1.0 + params.learning * (1.0 - math.exp(-done / params.learning_scale))
    pressure = (params.reference_tick_rate / tick_rate) ** params.elasticity
    rate = params.base_rate * experience * curve * pressure
    draw = params.draw[kind] * tick_rate
    return Mined(draw, rate, draw * rate)
