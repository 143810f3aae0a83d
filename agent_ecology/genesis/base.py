"""Genesis artifacts: the world's built-in, privileged artifacts, and how they are invoked.

A genesis artifact has methods with **named** arguments (a pydantic model per method), a
price in scrip, and a worked example. Invoking one validates the arguments, runs the handler
(which changes state only through the ledger kernel) and returns a JSON-safe result. The
handbook is generated from these same definitions, so it cannot drift from the code.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from agent_ecology.clock import Clock
from agent_ecology.ledger import Ledger

__all__ = [
    "Args",
    "GenesisArtifact",
    "Invocation",
    "InvocationError",
    "Method",
    "MethodFailed",
    "page",
]

T = TypeVar("T")


class Args(BaseModel):
    """Base of every method's arguments: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class InvocationError(ValueError):
    """An invocation was refused before it changed anything; ``code`` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class MethodFailed(Exception):
    """A method ran and did not do what was asked; unlike :class:`InvocationError`, it may
    have charged something (``data`` says what), so the caller is told both."""

    def __init__(self, code: str, message: str, data: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.data = dict(data)


@dataclass(frozen=True, slots=True)
class Invocation:
    """What a method handler gets: who calls, and the world it may act on."""

    actor: str
    ledger: Ledger
    clock: Clock


Handler = Callable[[Invocation, Any], Awaitable[Mapping[str, Any]]]


def page(
    name: str,
    rows: Sequence[T],
    to_json: Callable[[T], dict[str, Any]],
    cursor: Callable[[T], int],
    *,
    after: int,
    limit: int,
) -> dict[str, Any]:
    """One page of a paged read, as a method returns it: ``{name: [...], next_after, more}``.

    ``next_after`` is the last row's cursor (``after`` again on an empty page): the caller
    passes it back as ``after`` for the next page. ``more`` is true when the page is full.
    """
    return {
        name: [to_json(row) for row in rows],
        "next_after": cursor(rows[-1]) if rows else after,
        "more": len(rows) == limit,
    }


@dataclass(frozen=True, slots=True)
class Method:
    """One method of a genesis artifact."""

    name: str
    summary: str
    args: type[Args]
    handler: Handler
    example: Mapping[str, Any]
    price: int = 0
    returns: str = ""

    def signature(self) -> str:
        parts = []
        for name, info in self.args.model_fields.items():
            parts.append(name if info.is_required() else f"{name}?")
        return f"{self.name}({', '.join(parts)})"

    def describe(self, artifact_id: str) -> str:
        call = {
            "action": "invoke",
            "artifact_id": artifact_id,
            "method": self.name,
            "args": dict(self.example),
        }
        price = "free" if self.price == 0 else f"{self.price} scrip"
        lines = [f"### {self.signature()} ({price})", self.summary]
        for name, info in self.args.model_fields.items():
            note = info.description or ""
            kind = _type_name(info.annotation)
            req = "required" if info.is_required() else f"optional, default {info.default!r}"
            lines.append(f"- `{name}` ({kind}, {req}){': ' + note if note else ''}")
        if self.returns:
            lines.append(f"Returns: {self.returns}")
        lines.append(f"Example: `{json.dumps(call)}`")
        return "\n".join(lines)


def _type_name(annotation: Any) -> str:
    """``str``, ``int | None``: an argument's type as the handbook shows it."""
    if get_origin(annotation) is Annotated:
        return _type_name(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@dataclass
class GenesisArtifact:
    """A built-in artifact: an id, what it is for, and its methods."""

    id: str
    summary: str
    methods: dict[str, Method] = field(default_factory=dict)

    def add(self, method: Method) -> None:
        self.methods[method.name] = method

    def describe(self) -> str:
        head = f"## {self.id}\n{self.summary}\n"
        return head + "\n\n".join(m.describe(self.id) for m in self.methods.values())

    def bind(self, raw: Mapping[str, Any], method_name: str) -> tuple[Method, Args]:
        """The method and its validated arguments, or :class:`InvocationError`."""
        method = self.methods.get(method_name)
        if method is None:
            known = ", ".join(m.signature() for m in self.methods.values())
            raise InvocationError(
                "unknown_method", f"{self.id} has no method {method_name!r}; its methods: {known}"
            )
        try:
            return method, method.args.model_validate(dict(raw))
        except ValidationError as exc:
            problems = []
            for e in exc.errors()[:5]:
                loc = ".".join(str(p) for p in e["loc"]) or "args"
                if e["type"] == "missing":
                    problems.append(f"{loc}: required")
                elif e["type"] == "extra_forbidden":
                    problems.append(f"{loc}: not an argument of {method.name}")
                elif e["type"] == "value_error":  # a field rule's own message, naming the value
                    problems.append(str(e["msg"]).removeprefix("Value error, "))
                else:
                    msg = str(e["msg"])
                    problems.append(f"{loc}: {msg[:1].lower()}{msg[1:]} (got {e.get('input')!r})")
            example = json.dumps(dict(method.example))
            raise InvocationError(
                "invalid_arguments",
                f"{self.id}.{method.signature()}: {'; '.join(problems)}. Example args: {example}",
            ) from None
