"""What one invocation may use: the sandbox's limits, and their defaults (config.yaml's
``sandbox`` section takes its defaults from here)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one invocation (with everything it invokes) may use."""

    fuel: int = 1_000_000_000
    memory_bytes: int = 64 << 20
    deadline_s: float = 2.0
    max_result_bytes: int = 16_384
    max_host_calls: int = 200
    max_depth: int = 3
    host_call_fuel: int = 100_000
    recursion: int = 200

    def describe(self) -> str:
        return (
            f"fuel {self.fuel:,} instructions, memory {self.memory_bytes >> 20} MiB, deadline"
            f" {self.deadline_s:g} s, result {self.max_result_bytes:,} bytes of JSON, host calls"
            f" {self.max_host_calls}, nesting depth {self.max_depth}, recursion {self.recursion}"
        )
