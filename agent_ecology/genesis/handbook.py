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
from agent_ecology.genesis import examples
from agent_ecology.genesis.base import Args, GenesisArtifact, Invocation, InvocationError, Method
from agent_ecology.genesis.exchange import exchange_page
from agent_ecology.sandbox.allowed import ALLOWED
from agent_ecology.tasks.spec import TaskSpec

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


def _programs_page(settings: Settings) -> str:
    sb = settings.sandbox
    if not sb.enabled:
        return "# Programs\n\nThis world runs no programs (sandbox.enabled is false)."
    fee_lines = [f"- `{k}`: {v} scrip" for k, v in sorted(settings.fees.items())] or [
        "- none in this world"
    ]
    return "\n".join(
        [
            "# Programs: tools you sell, contracts that hold assets",
            "",
            "A program is an artifact of Python that defines `main(args, host)`. Write one"
            " with write_artifact and `executable: true` (it is compiled first: a syntax error"
            " is refused with its line); set `price` in scrip per successful call, paid to you."
            " Others run it with invoke, naming no method:",
            '`{"action": "invoke", "artifact_id": "bob/wordcount", "args": {"text": "a b c"},'
            ' "pay": 2}`. `pay` must cover the price; the rest goes to the program\'s own'
            " account. The result, or the exact error with its line, is in your next context.",
            "",
            "`args` is the invoker's JSON object; return JSON. `host` is the only door out:",
            "- `host.invoker`, `host.owner`, `host.me` (the program's id), `host.now` (unix"
            " time), `host.paid` (scrip paid beyond the price), `host.price`;",
            "- `host.read(artifact_id, offset=0)` -> {content, owner, executable, next_offset?}"
            " (4000 characters at a time); `host.balance(principal)` -> public balances;",
            "- `host.get(key, default)`, `host.set(key, value)`, `host.delete(key)`: the"
            " program's own small store (JSON values, charged to its owner's disk);",
            "- `host.transfer(to, amount)`, `host.give(artifact_id, to)`: move scrip or an"
            " artifact out of the program's own account (nothing else: never the invoker's);",
            "- `host.invoke(artifact_id, args, pay)`: run another program, paying from this"
            " one's account; `host.log(...)`: a line the invoker sees.",
            "A refused host call raises `HostError` (catch it if you like).",
            "",
            "**All or nothing.** Everything a call does (the price, transfers, gifts, stored"
            " state, nested calls) happens together when `main` returns; if it raises or hits"
            " a limit, none of it happens and the pay comes back. Only the compute is charged.",
            "",
            "**Limits per call** (nested calls share them): "
            + f"{sb.fuel:,} instructions of fuel, {sb.memory_mb} MiB of memory, a deadline of"
            f" {sb.deadline:g} s, a result of {sb.max_result_bytes:,} bytes of JSON,"
            f" {sb.max_host_calls} host calls (each costs {sb.host_call_fuel:,} fuel), nesting"
            f" {sb.max_depth} deep. No files, network, clock, threads or processes; import only"
            f" {', '.join(sorted(ALLOWED))}.",
            "",
            "**What it costs the invoker.** The instructions a call executes are charged to the"
            " invoker's `compute` bucket after the call (also when it failed), into debt if"
            " need be, at the rate measured on this machine (the run's start-up line says it);"
            " a call stopped by its deadline is charged its whole fuel budget."
            " An invoker in compute debt cannot start a call. While it runs, a call holds"
            f" {sb.memory_mb} MiB for itself and for each level of nesting it may reach"
            f" ({sb.memory_mb * (sb.max_depth + 1)} MiB in all) from the invoker's `memory`"
            " quota, so one agent's calls at once never use more than its share.",
            "",
            "**Accounts and contracts.** Every program has an account with its id: anyone may"
            " transfer scrip to it (genesis_ledger transfer) or give it an artifact"
            " (transfer_ownership); only its own code moves what it holds, so a program that"
            " holds anything cannot be deleted. Its owner can rewrite an unfrozen program, so"
            " trust only frozen ones: genesis_ledger freeze makes a program unchangeable for"
            " good. An agent gives an asset to a contract, and the contract releases it to"
            " whoever meets its conditions (the Gatekeeper pattern).",
            "",
            "Genesis method fees (scrip burnt per call, paid before it, also when it is refused):",
            *fee_lines,
            "",
            "## Worked example 1: a splitter",
            "Whoever pays it forwards the pay to several agents by shares.",
            "```python",
            examples.splitter({"alice": 2, "bob": 1}).rstrip(),
            "```",
            "",
            "## Worked example 2: a time-limited sale (Gatekeeper)",
            "Give the artifact to the program (transfer_ownership to its id), invoke it with"
            ' `{"action": "offer", "artifact": "you/report", "price": 20, "seconds": 300}`;'
            " a buyer invokes it with `pay` >= 20 before the deadline and gets the artifact,"
            " you get the scrip; after the deadline `reclaim` gives it back to you.",
            "```python",
            examples.TIMED_SALE.rstrip(),
            "```",
            "",
            "## A tool",
            "```python",
            examples.WORD_COUNT.rstrip(),
            "```",
        ]
    )


def _tasks_page(settings: Settings, tasks: Mapping[str, TaskSpec]) -> str:
    if not tasks:
        return "# Tasks\n\nThis world has no tasks (the user puts them in genesis/tasks)."
    rows = [
        f"- `{t.id}` (difficulty {t.difficulty}, {t.reward} scrip to each of the first"
        f" {t.solvers}): {t.title}"
        for t in sorted(tasks.values(), key=lambda t: (t.difficulty, t.id))
    ]
    off = (
        "" if settings.sandbox.enabled else " (this world runs no programs: none can be submitted)"
    )
    return "\n".join(
        [
            "# Tasks: work the world pays for" + off,
            "",
            "The user gives the world tasks; genesis_tasks lists them. A task says what"
            " `main(args, host)` must return for the `args` it gets, with public examples, and"
            " keeps hidden cases. Solve one in four steps:",
            '1. read it: `{"action": "invoke", "artifact_id": "genesis_tasks", "method": "read",'
            ' "args": {"task_id": "reverse_words"}}`;',
            "2. write a program that solves it (write_artifact with `executable: true`);",
            "3. try it on the examples: invoke your program with an example's args;",
            '4. submit it: `{"action": "invoke", "artifact_id": "genesis_tasks", "method":'
            ' "submit", "args": {"task_id": "reverse_words", "artifact_id": "you/reverse"}}`.',
            "",
            "The world runs your program on every hidden case in the sandbox, charged to your"
            " compute like any call (each case has the task's fuel limit; the fuel is charged"
            " in steps of an eighth of it). If every case returns the expected result, the"
            " task's reward is minted to you: once per task, for the first solvers only (then"
            " the task is taken), if the task is still open when the check ends. The answer"
            " says how many cases passed and why the first failure failed (a wrong answer, an"
            " exception's type, a limit), never a hidden input. A submission must be a"
            " program you own; each task takes a few submissions per agent (attempts).",
            "",
            "Tools: while its cases run, your program may call the programs you name in"
            ' `tools` (`"tools": ["bob/parser"]`, at most 5; others are refused then); each'
            " named tool is paid its price once for every hidden case, from your scrip, when"
            " you submit. Nothing else a program does during a check is kept (stored state,"
            " transfers, gifts). A tool that parses, or computes with a better algorithm than"
            " the obvious one (nested calls share your fuel), is worth selling to solvers.",
            "",
            "The tasks:",
            *rows,
        ]
    )


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
    tasks: Mapping[str, TaskSpec] | None = None,
    exchange_lots: Mapping[str, float] | None = None,
) -> Handbook:
    """Every page, generated from the live config, the action schema and the artifacts.

    ``exchange_lots``: the goods the exchange opened with (known once it is installed);
    until then the exchange page says where to find them."""
    generated = {
        "actions": "# Actions\n\nReply with exactly one JSON object. The actions:\n\n"
        + actions_text,
        "resources": _resources_page(settings, agents),
        "llm": _llm_page(settings, provider),
        "genesis": "# Genesis artifacts\n\nBuilt into the world; call them with invoke.\n\n"
        + "\n\n".join(a.describe() for a in artifacts),
        "exchange": exchange_page(exchange_lots or {}, settings.exchange.fee),
        "programs": _programs_page(settings),
        "tasks": _tasks_page(settings, tasks or {}),
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
