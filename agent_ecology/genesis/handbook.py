"""genesis_handbook: how the world works, written for agents, generated from the live config.

Pages are built at boot from ``config.yaml`` (resources, prices, the budget), from the
action schema and from the genesis artifacts' own method definitions, so what an agent reads
is always what the code does. Hand-written pages in ``genesis/handbook/*.md`` are added; a
hand-written page with the name of a generated one comes first, the live values after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from agent_ecology.config import ConfigError, Settings
from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, InvocationError, Method

__all__ = ["Handbook", "build_handbook", "make_handbook_artifact"]

ID = "genesis_handbook"


class Handbook:
    """Named pages of text."""

    def __init__(self, pages: Mapping[str, str]) -> None:
        self.pages = dict(pages)

    def read(self, page: str) -> str:
        try:
            return self.pages[page]
        except KeyError:
            raise InvocationError(
                "unknown_page",
                f"the handbook has no page {page!r}; its pages: {', '.join(self.pages)}",
            ) from None


def _money(value: float) -> str:
    return f"${value:,.6f}".rstrip("0").rstrip(".") if value else "$0"


def _resources_page(settings: Settings, agents: int) -> str:
    lines = ["## Live values (from config.yaml)", ""]
    lines.append(f"- Starting scrip per agent: {settings.scrip.initial}.")
    for name, stock in settings.resources.stock.items():
        share = stock.total / agents if agents else 0.0
        lines.append(
            f"- `{name}` (stock, {stock.unit}): {stock.total:g} in all, {share:g} per agent"
            " to start."
        )
    for name, flow in settings.resources.flow.items():
        lines.append(
            f"- `{name}` (flow, {flow.unit}): refills {flow.rate:g} per second up to"
            f" {flow.capacity:g}; charged after each turn, so it may go below zero."
        )
    lines += [
        "",
        "What each turn is charged:",
        "- `compute`: the CPU seconds the runtime spent on your turn (building your context,"
        " parsing your reply, carrying out your action), measured with the thread CPU clock.",
        "- `llm_rate`: the tokens your call used (prompt + completion), as the provider"
        " reported them.",
        "- `llm_budget`: the dollars your call cost (see page 'llm').",
        "",
        "While any of your flow balances is below zero you cannot act; you wait, without cost,"
        " until it has refilled to zero. Another agent may transfer some of theirs to you.",
    ]
    return "\n".join(lines)


def _llm_page(settings: Settings, provider: str) -> str:
    llm = settings.llm
    lines = [
        "# Thinking and its price",
        "",
        f"You think through: {provider}.",
        f"The world's hard limit on real dollars spent on LLM calls: {_money(llm.max_api_cost)}"
        " (`llm.max_api_cost`). When it is spent, the run stops.",
        "",
        "Before each call the worst case is reserved from the world's budget and from your"
        " `llm_budget`: every byte of your prompt counted as a token, plus your `max_tokens`"
        " (or the model's output limit if you set none). After the call you are charged what"
        " the provider billed and the rest is given back. A lower `max_tokens` lets you think"
        " with less budget in reserve; set it with update_config.",
        "",
    ]
    if llm.prices:
        lines.append("| model | $ per 1M input tokens | $ per 1M output tokens | output limit |")
        lines.append("|---|---|---|---|")
        for model, price in sorted(llm.prices.items()):
            lines.append(
                f"| {model} | {price.input:g} | {price.output:g} | {price.max_output_tokens} |"
            )
    else:
        lines.append("No model prices are configured: calls in this world cost no dollars.")
    return "\n".join(lines)


def _index_page(settings: Settings, names: Iterable[str], provider: str) -> str:
    pages = ", ".join(f"'{n}'" for n in names)
    interval = settings.run.metrics_interval
    return "\n".join(
        [
            "# The handbook",
            "",
            "You are an agent in an economy of agents under real resource limits. You own scrip"
            " (the currency), quotas of stock resources and buckets of flow resources. You act"
            " one action per turn by replying with exactly one JSON object; the result (or the"
            " exact error) is shown to you on your next turn. Nobody triggers your turns: you"
            " act as long as you can pay for it, or sleep by your own choice.",
            "",
            "Name what you create under your own id: an artifact id with a '/' starts with"
            " yours (`you/notes`); ids starting with `genesis_`, `rights/config/` or `debts/`"
            " are not yours to make, in any case.",
            "",
            "The current time is at the top of every context you get.",
            f"Metrics are recorded every {interval:g} s; they do not trigger anything.",
            f"Thinking is done by: {provider}.",
            "",
            "Read a page with",
            '`{"action": "invoke", "artifact_id": "genesis_handbook", "method": "read",'
            ' "args": {"page": "actions"}}`.',
            f"Pages: {pages}.",
        ]
    )


def build_handbook(
    settings: Settings,
    artifacts: Iterable[GenesisArtifact],
    *,
    actions_text: str,
    provider: str,
    agents: int,
) -> Handbook:
    """Every page, generated from the live config, the action schema and the artifacts."""
    generated = {
        "actions": "# Actions\n\nReply with exactly one JSON object. The actions:\n\n"
        + actions_text,
        "resources": _resources_page(settings, agents),
        "llm": _llm_page(settings, provider),
        "genesis": "# Genesis artifacts\n\nBuilt into the world; call them with invoke.\n\n"
        + "\n\n".join(a.describe() for a in artifacts),
    }
    written: dict[str, str] = {}
    folder = Path(settings.world.genesis) / "handbook"
    if folder.is_dir():
        for path in sorted(folder.glob("*.md")):
            try:
                written[path.stem] = path.read_text(encoding="utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    str(path),
                    [
                        f"a handbook page must be UTF-8 text; byte {exc.start} is not"
                        " (save it as UTF-8)"
                    ],
                ) from None
            except OSError as exc:
                raise ConfigError(str(path), [f"cannot read it: {exc.strerror}"]) from None
    pages: dict[str, str] = {}
    for name in [*generated, *(n for n in written if n not in generated)]:
        parts = [p for p in (written.get(name), generated.get(name)) if p]
        pages[name] = "\n\n".join(parts)
    names = ["index", *pages]
    return Handbook({"index": _index_page(settings, names, provider), **pages})


class ReadArgs(Args):
    page: str = Field(default="index", max_length=64, description="a page name")


def make_handbook_artifact(handbook: Handbook) -> GenesisArtifact:
    async def read(inv: Invocation, args: ReadArgs) -> Mapping[str, Any]:
        return {"page": args.page, "text": handbook.read(args.page), "pages": list(handbook.pages)}

    art = GenesisArtifact(ID, "How this world works, written for agents. Start with 'index'.")
    art.add(
        Method(
            "read",
            "One page of the handbook.",
            ReadArgs,
            read,
            {"page": "resources"},
            returns="{page, text, pages}",
        )
    )
    return art
