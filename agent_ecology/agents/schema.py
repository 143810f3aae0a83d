"""The action union as a lean JSON schema, for servers that constrain output to a schema.

Generated from the same pydantic models the parser validates with (:mod:`.actions`), so it
cannot drift from them, then made lean for the servers that compile schemas to grammars:

- one ``anyOf`` branch per action (per way of meeting its cross-field rule), each a closed
  object whose ``action`` is a ``const``;
- every ``$ref`` inlined (some grammar builders do not follow them);
- string lengths only where short: every ``minLength``, and a ``maxLength`` up to
  :data:`~agent_ecology.llm.gbnf.MAX_BOUNDED_LENGTH` (the parser enforces longer ones;
  llama.cpp's server has crashed on a ``maxLength`` of 2,000 or more, and long bounds make
  huge grammars);
- every number bounded (pydantic's own bounds, else a sane default), so that a constrained
  model cannot wander into a 7-digit ``limit``; bounds pydantic puts beside a union
  (``float | int``) are moved into its number branches, where schema readers look;
- a model's cross-field rule (``x-one-of``, ``x-any-of``: see ``actions._needs``) as one
  branch per field that may satisfy it, that field required and not null (and, for
  ``one-of``, the others absent): what a constrained model writes then passes the validator.
- no titles, descriptions or defaults (tokens and grammar size for nothing).

The parser, not the schema, decides what is valid: the schema only steers the sampler.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any

from agent_ecology.agents.actions import ACTIONS
from agent_ecology.llm.gbnf import MAX_BOUNDED_LENGTH

__all__ = ["action_schema"]

_DROP = frozenset({"title", "description", "default", "examples", "discriminator"})
INTEGER_BOUND = 10**9
"""The bound a number without one of its own gets (either side)."""
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _without_null(node: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in node.get("anyOf", [node]) if b.get("type") != "null"]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _needing(node: dict[str, Any], rule: str, names: list[str]) -> dict[str, Any]:
    """``node`` (an object) as one branch per name that satisfies its cross-field rule."""
    branches = []
    for name in names:
        branch = copy.deepcopy(node)
        props = branch["properties"]
        props[name] = _without_null(props[name])
        if rule == "x-one-of":
            for other in names:
                if other != name:
                    del props[other]
        branch["required"] = [k for k in props if k in {*node.get("required", ()), name}]
        branches.append(branch)
    return {"anyOf": branches}


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
        if key in _DROP or key == "$defs" or (key in _BOUNDS and "anyOf" in node):
            continue
        if key == "maxLength" and value > MAX_BOUNDED_LENGTH:
            continue
        out["anyOf" if key == "oneOf" else key] = _resolve(value, defs)
    bounds = {_BOUNDS[k]: v for k, v in node.items() if k in _BOUNDS and "anyOf" in node}
    if bounds:  # pydantic's bounds on a union: into each number branch
        for branch in out.get("anyOf", []):
            if branch.get("type") in ("integer", "number"):
                for key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
                    branch.pop(key, None)
                branch.update(bounds)
    for rule in ("x-one-of", "x-any-of"):
        if rule in out:
            return _needing({k: v for k, v in out.items() if k != rule}, rule, out[rule])
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
        for branch in lean.get("anyOf", [lean]):  # a cross-field rule's branches, flat
            branch["properties"]["action"] = {"const": name}
            branch["additionalProperties"] = False
            branch["required"] = sorted(set(branch.get("required", [])) | {"action"})
            branches.append(branch)
    return branches


@cache
def action_schema() -> Mapping[str, Any]:
    """The lean schema of one action: built once, shared by every request (do not change
    it)."""
    return {"anyOf": _branches()}
