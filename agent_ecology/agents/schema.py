"""The action union as a lean JSON schema, for servers that constrain output to a schema.

Generated from the same pydantic models the parser validates with (:mod:`.actions`), so it
cannot drift from them, then made lean for the servers that compile schemas to grammars:

- one ``anyOf`` branch per action, each a closed object whose ``action`` is a ``const``;
- every ``$ref`` inlined (some grammar builders do not follow them);
- no string lengths (the parser enforces them; llama.cpp's server has crashed on a
  ``maxLength`` of 2,000 or more, and long bounds make huge grammars);
- every number bounded (pydantic's own bounds, else a sane default), so that a constrained
  model cannot wander into a 7-digit ``limit``;
- no titles, descriptions or defaults (tokens and grammar size for nothing).

The parser, not the schema, decides what is valid: the schema only steers the sampler.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

from agent_ecology.agents.actions import ACTIONS

__all__ = ["action_schema"]

_DROP = frozenset(
    {"title", "description", "default", "maxLength", "minLength", "examples", "discriminator"}
)
INTEGER_BOUND = 10**9
"""The bound a number without one of its own gets (either side)."""


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        return _resolve(copy.deepcopy(defs[name]), defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        out["anyOf" if key == "oneOf" else key] = _resolve(value, defs)
    if out.get("type") in ("integer", "number"):
        if "minimum" not in out and "exclusiveMinimum" not in out:
            out["minimum"] = -INTEGER_BOUND
        if "maximum" not in out and "exclusiveMaximum" not in out:
            out["maximum"] = INTEGER_BOUND
    return out


def _branches() -> list[dict[str, Any]]:
    branches = []
    for name, cls in ACTIONS.items():
        raw = cls.model_json_schema()
        lean = _resolve(raw, raw.get("$defs", {}))
        lean["properties"]["action"] = {"const": name}
        lean["additionalProperties"] = False
        lean["required"] = sorted(set(lean.get("required", [])) | {"action"})
        branches.append(lean)
    return branches


@cache
def action_schema() -> Mapping[str, Any]:
    """The lean schema of one action: built once, shared by every request (do not change
    it)."""
    return {"anyOf": _branches()}
