"""``config.yaml`` -> validated, typed settings.

Every key is checked: an unknown key is an error naming its full path (with a suggestion
when it looks like a typo), a bad value says what was expected, a duplicated key is an error
rather than a silent overwrite. Secrets are never read from the file: the file names the
environment variable that holds them (``llm.api_key_env``).

The resource section has the shape of seed 004 with seed 003's token buckets::

    resources:
      stock:                      # fixed pools, shared out among the agents
        disk: {total: 50000, unit: bytes, distribution: equal}
      flow:                       # token buckets, one per agent
        compute: {rate: 1.0, capacity: 10.0, unit: cpu_seconds}

Any resource declared here is handled by the ledger without code changes.

A subsystem may own its section: ``robonomics`` is
:class:`~agent_ecology.robonomics.settings.RobonomicsSettings`, built, like the sections
here, from :mod:`agent_ecology._settings`. This module composes the sections and words
every error with its full key path.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agent_ecology._settings import (
    NAME_PATTERN,
    Name,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrincipalId,
    Strict,
)
from agent_ecology.robonomics.settings import RobonomicsSettings
from agent_ecology.sandbox.limits import Limits

__all__ = [
    "AgentLoopSettings",
    "AgentSettings",
    "ConfigError",
    "FlowOverride",
    "FlowResource",
    "LLMSettings",
    "LocalModelSettings",
    "ModelPrice",
    "OracleSettings",
    "ResourcesSettings",
    "RobonomicsSettings",
    "RunSettings",
    "SandboxSettings",
    "ScripSettings",
    "Settings",
    "SleepPolicy",
    "StockResource",
    "WorldSettings",
    "load_agent_file",
    "load_settings",
    "parse_settings",
    "read_mapping_file",
    "validate_file",
]

M = TypeVar("M", bound=BaseModel)

_SECRET_KEY = re.compile(r"(api_?key|secret|password|token)$", re.IGNORECASE)


class ConfigError(ValueError):
    """config.yaml could not be read or is not valid; the message lists every problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not valid:\n{lines}")


class WorldSettings(Strict):
    """Where the world lives."""

    database: Path = Field(
        default=Path("data/world.db"),
        description="The SQLite file; relative paths are relative to config.yaml.",
    )
    system_principal: PrincipalId = Field(
        default="world", description="The system principal that mints the starting scrip."
    )
    genesis: Path = Field(
        default=Path("genesis"),
        description="The genesis folder (agents/*.yaml, tasks/*.yaml, handbook/*.md); relative"
        " to config.yaml.",
    )
    busy_timeout: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False, strict=True)] = Field(
        default=10.0,
        description="Seconds a write waits for a lock another program holds on the database"
        " before it fails (and is tried again).",
    )


MAX_SCRIP_EACH = 10**15
"""The most starting scrip for one agent (the total over all agents must fit in 64 bits)."""


class ScripSettings(Strict):
    """The currency."""

    initial: Annotated[int, Field(ge=0, le=MAX_SCRIP_EACH, strict=True)] = Field(
        default=100, description="Scrip minted to each agent when it is created."
    )


class StockResource(Strict):
    """A fixed pool (seed 004): ``total`` is shared out among the agents.

    ``memory`` may say ``total: auto``: half the container's memory limit (or the machine's
    RAM), read when the config is loaded (:func:`agent_ecology.calibrate.memory_total`).
    """

    total: NonNegativeFloat
    unit: str = "units"
    distribution: Literal["equal"] = "equal"


def _memory_auto(value: Any) -> Any:
    """``stock.memory.total: auto`` -> the calibrated number (other 'auto's are refused)."""
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    for name, spec in value.items():
        if isinstance(spec, Mapping) and spec.get("total") == "auto":
            if name != "memory":
                raise ValueError(
                    f"stock.{name}.total: 'auto' reads the memory limit, so only the memory"
                    " pool may use it; give a number here"
                )
            from agent_ecology.calibrate import host_memory, memory_total, read_limits

            out[name] = {**spec, "total": float(memory_total(read_limits(), host_memory())[0])}
    return out


def _number_or_auto(*, positive: bool) -> Callable[[Any], Any]:
    """A number (>= 0, or > 0) or the word ``auto``, with one clear message either way."""

    def check(value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("input should be a number or 'auto'")
        if positive and not value > 0:
            raise ValueError("input should be greater than 0")
        if not positive and not value >= 0:
            raise ValueError("input should be greater than or equal to 0")
        return float(value)

    return check


class FlowResource(Strict):
    """A token bucket per agent (seed 003): it refills at ``rate`` per second up to ``capacity``.

    ``compute`` may say ``rate: auto`` (and ``capacity: auto``): calibrated at start-up to
    the machine's CPU quota (``agent-ecology calibrate`` shows the arithmetic).
    """

    rate: Annotated[float | Literal["auto"], BeforeValidator(_number_or_auto(positive=False))]
    capacity: Annotated[float | Literal["auto"], BeforeValidator(_number_or_auto(positive=True))]
    unit: str = "units"

    @property
    def calibrated(self) -> bool:
        return self.rate == "auto" or self.capacity == "auto"


RESERVED_RESOURCE_NAMES = frozenset({"scrip"})
"""Names a resource may not take: actions that name a resource would mistake it for these."""


class ResourcesSettings(Strict):
    """Stock and flow resources, by name."""

    stock: Annotated[dict[Name, StockResource], BeforeValidator(_memory_auto)] = Field(
        default_factory=dict
    )
    flow: dict[Name, FlowResource] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _auto_only_for_compute(self) -> ResourcesSettings:
        for name, spec in self.flow.items():
            if spec.calibrated and name != "compute":
                raise ValueError(
                    f"flow.{name}: 'auto' calibrates CPU time, so only the compute flow may use"
                    " it; give numbers here"
                )
        return self

    @model_validator(mode="after")
    def _names_unique(self) -> ResourcesSettings:
        both = sorted(set(self.stock) & set(self.flow))
        if both:
            raise ValueError(
                f"resource {both[0]!r} is declared both as stock and as flow; keep one"
            )
        for name in (*self.stock, *self.flow):
            if name in RESERVED_RESOURCE_NAMES:
                raise ValueError(f"{name!r} is the currency, not a resource; choose another name")
        return self


class FlowOverride(Strict):
    """An agent's own rate or capacity for a flow resource."""

    rate: NonNegativeFloat | None = None
    capacity: PositiveFloat | None = None


class SleepPolicy(Strict):
    """How an agent paces itself: a pause after every turn (its own choice)."""

    between_turns: NonNegativeFloat = 0.0


class AgentSettings(Strict):
    """One agent: in config.yaml's ``agents`` list or in ``genesis/agents/<id>.yaml``.

    Keys left out take the defaults: ``scrip.initial``, ``llm.model``, no system prompt of its
    own, no ``max_tokens`` cap (seed 003: agents choose their own limits, or none).
    """

    id: PrincipalId
    scrip: Annotated[int, Field(ge=0, le=MAX_SCRIP_EACH, strict=True)] | None = Field(
        default=None, description="Starting scrip; defaults to scrip.initial."
    )
    model: str | None = None
    system_prompt: str | None = None
    max_tokens: PositiveInt | None = None
    sleep_policy: SleepPolicy | None = None
    stock: dict[Name, NonNegativeFloat] = Field(
        default_factory=dict, description="Starting stock quotas instead of the equal share."
    )
    flow: dict[Name, FlowOverride] = Field(
        default_factory=dict, description="Own rate/capacity instead of the resource's."
    )


def _off_is_off(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false: that is what the user wrote.
    return "off" if value is False else value


StructuredOutput = Annotated[
    Literal["auto", "json_schema", "grammar", "json_object", "off"], BeforeValidator(_off_is_off)
]
"""How replies are constrained to the action schema: ``json_schema`` (OpenAI's
response_format), ``grammar`` (a GBNF grammar of the schema: llama.cpp's servers),
``json_object`` (with the schema: Ollama), ``off``, or ``auto``: the first of those the server
takes."""


class ModelPrice(Strict):
    """What a model costs, in dollars per million tokens, and its longest possible answer;
    0 for a self-hosted server (its calls then cost no dollars, worst case included)."""

    input: NonNegativeFloat
    output: NonNegativeFloat
    max_output_tokens: PositiveInt
    cached_input: NonNegativeFloat | None = Field(
        default=None,
        description="$ per 1M prompt tokens the server read from its cache (default: input).",
    )
    structured_output: StructuredOutput | None = Field(
        default=None, description="This model's structured output (default llm's)."
    )


class LocalModelSettings(Strict):
    """A model that runs here (``llm.provider: local``): many agents' turns in one batch."""

    model: str = Field(
        default="tiny",
        min_length=1,
        description="'tiny' (the built-in random-weight decoder, for demos and tests) or the"
        " folder of a Hugging Face causal LM saved on disk; never downloaded.",
    )
    tokenizer: Path | None = Field(
        default=None, description="The tokenizer's folder, when not the model's own."
    )
    seed: int = Field(default=0, description="The tiny model's weights, and sampling.")
    device: str = Field(default="cpu", min_length=1, description="Where the model runs.")
    max_batch: PositiveInt = Field(default=64, description="The most turns in one batch.")
    batch_window: Annotated[float, Field(ge=0, le=60)] = Field(
        default=0.02, description="Seconds to wait for more turns before running a batch."
    )
    temperature: Annotated[float, Field(ge=0, le=100)] = Field(
        default=1.0, description="0: greedy; otherwise at least 0.01."
    )

    @model_validator(mode="after")
    def _temperature_usable(self) -> LocalModelSettings:
        if 0 < self.temperature < 0.01:
            raise ValueError(
                f"temperature {self.temperature!r} is too small to sample with"
                " (the scores would overflow); use 0 for greedy, or at least 0.01"
            )
        return self

    think_tokens: NonNegativeInt = Field(
        default=24, description="The most tokens of free reasoning before the action."
    )
    free_tokens: PositiveInt = Field(
        default=48, description="The most tokens of each free part of the action."
    )
    context_tokens: PositiveInt = Field(
        default=192, description="The agent's context is cut to its last this many tokens."
    )


class LLMSettings(Strict):
    """Where agents think. Without a key in the environment the baseline policy is used."""

    provider: Literal["baseline", "openai", "local"] = "baseline"
    local: LocalModelSettings = Field(default_factory=LocalModelSettings)
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "OPENAI_API_KEY"
    max_api_cost: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True)] = Field(
        default=1.0, description="Hard limit on real dollars spent on LLM calls by this world."
    )
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    timeout: PositiveFloat = Field(default=60.0, description="Seconds one attempt may take.")
    connect_timeout: PositiveFloat = 10.0
    max_retries: NonNegativeInt = Field(
        default=4, description="Retries after a 429, a 5xx, a timeout or a lost connection."
    )
    retry_backoff: PositiveFloat = Field(
        default=1.0, description="First wait before a retry (doubles; Retry-After wins)."
    )
    retry_backoff_max: PositiveFloat = 30.0
    max_connections: PositiveInt = 1000
    http_client: Literal["auto", "lean", "sdk"] = Field(
        default="auto",
        description="How requests are sent: lean (a small HTTP/1.1 client, the SDK's request"
        " byte for byte at a tenth of its CPU), sdk (the openai SDK), auto (lean unless a"
        " proxy is configured in the environment).",
    )
    structured_output: StructuredOutput = Field(
        default="auto",
        description="Constrain replies to the action schema: auto, json_schema, grammar,"
        " json_object, off (per model in prices.<model>.structured_output).",
    )
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="The request field that carries the output cap; OpenAI's reasoning"
        " models want max_completion_tokens.",
    )


class AgentLoopSettings(Strict):
    """How every agent's think-act loop runs."""

    context_max_chars: Annotated[int, Field(ge=2000, strict=True)] = Field(
        default=12000, description="The most characters of context sent in one call."
    )
    recent_events: PositiveInt = 20
    max_notes: Annotated[int, Field(gt=0, le=10_000, strict=True)] = 50
    failure_backoff: PositiveFloat = Field(
        default=1.0, description="Pause after a failed turn; doubles per failure in a row."
    )
    failure_backoff_max: PositiveFloat = 60.0
    max_reply_chars: PositiveInt = 100_000
    seed: int | None = Field(
        default=None, description="Seed of the baseline policy's choices (none: random)."
    )


class OracleSettings(Strict):
    """genesis_oracle: when it resolves, how many bids win, what a score mints."""

    interval: PositiveFloat = Field(
        default=60.0,
        description="Seconds between resolutions, at multiples of it since the Unix epoch.",
    )
    slots: PositiveInt = Field(default=1, description="Bids that win each resolution.")
    mint_per_point: NonNegativeFloat = Field(
        default=10.0, description="Scrip minted to a winning artifact's owner per score point."
    )
    max_mint: NonNegativeInt = Field(default=100, description="At most this much per winner.")
    reserve: NonNegativeInt = Field(
        default=5,
        description="The least a winner pays (bids below it cannot win), so that scrip is"
        " never minted for nothing.",
    )
    paid: Literal["burn", "share"] = Field(
        default="burn",
        description="What winners pay: burned, or shared equally among all agents.",
    )


class ExchangeSettings(Strict):
    """genesis_exchange: the resource exchange (a continuous double auction per good)."""

    fee: NonNegativeInt = Field(
        default=0, description="Scrip per fill, paid by the seller from its proceeds, burned."
    )
    lots: dict[str, PositiveFloat] = Field(
        default_factory=dict,
        description="The lot of a good ('compute:rate': 0.001); each good not named here gets"
        " a power of ten near a hundredth of one agent's default quota of it.",
    )

    @field_validator("lots")
    @classmethod
    def _goods_named(cls, lots: dict[str, float]) -> dict[str, float]:
        for good in lots:
            if not re.fullmatch(r"[a-z][a-z0-9_]*:(rate|units|capacity)", good):
                raise ValueError(
                    f"exchange.lots: {good!r} is not a good; name one as resource:rate or"
                    " resource:units (a flow) or resource:capacity (a stock), for example"
                    " compute:rate"
                )
        return lots


_LIMITS = Limits()  # the sandbox's defaults: one place decides them


class SandboxSettings(Strict):
    """Agents' programs (executable artifacts) and the sandbox that runs them."""

    enabled: bool = Field(
        default=True,
        description="false: agents can write only data artifacts (no sandbox is built).",
    )
    fuel: Annotated[int, Field(ge=10_000_000, le=10**12, strict=True)] = Field(
        default=_LIMITS.fuel,
        description="WebAssembly instructions one invocation may execute, nested calls"
        " included (about 0.3 CPU-seconds per 1e9 here).",
    )
    memory_mb: Annotated[int, Field(ge=32, le=4096, strict=True)] = Field(
        default=_LIMITS.memory_bytes >> 20,
        description="The memory limit of one instance; an invocation holds it for itself and"
        " for each nesting level it may reach from the invoker's memory quota while it runs.",
    )
    deadline: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False, strict=False)] = Field(
        default=_LIMITS.deadline_s, description="Wall-clock seconds one invocation may take."
    )
    max_result_bytes: Annotated[int, Field(ge=64, le=1 << 20, strict=True)] = (
        _LIMITS.max_result_bytes
    )
    max_host_calls: Annotated[int, Field(ge=1, le=100_000, strict=True)] = _LIMITS.max_host_calls
    max_depth: Annotated[int, Field(ge=0, le=16, strict=True)] = _LIMITS.max_depth
    host_call_fuel: Annotated[int, Field(ge=0, le=10**9, strict=True)] = Field(
        default=_LIMITS.host_call_fuel,
        description="Fuel every host call costs (so spamming them is bounded).",
    )
    fuel_per_second: Annotated[
        float | Literal["auto"], BeforeValidator(_number_or_auto(positive=True))
    ] = Field(
        default="auto",
        description="Instructions per compute-second charged (auto: measured on this machine"
        " at start-up, `agent-ecology calibrate` prints it).",
    )
    prepared: Annotated[int, Field(ge=0, le=64, strict=True)] = Field(
        default=2, description="Sandbox instances kept warm, so a call does not wait for one."
    )

    def limits(self) -> Limits:
        """These settings as the sandbox's limits."""
        return Limits(
            fuel=self.fuel,
            memory_bytes=self.memory_mb << 20,
            deadline_s=float(self.deadline),
            max_result_bytes=self.max_result_bytes,
            max_host_calls=self.max_host_calls,
            max_depth=self.max_depth,
            host_call_fuel=self.host_call_fuel,
        )


class RunSettings(Strict):
    """How `agent-ecology run` runs."""

    duration: PositiveFloat | None = Field(
        default=None, description="Seconds to run (none: until stopped or the budget is spent)."
    )
    metrics_interval: PositiveFloat = Field(
        default=10.0, description="Seconds between metric window snapshots."
    )
    grace: NonNegativeFloat = Field(
        default=5.0, description="Seconds in-flight turns get to finish when the run stops."
    )
    lease_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=6.0,
        description="Sharded runs: how long the leader lease lasts unrenewed (it is renewed"
        " every third of it), so how soon another shard takes the world's duties over from"
        " one that was killed.",
    )
    shard_poll: Annotated[float, Field(gt=0, le=10)] = Field(
        default=0.05,
        description="Sharded runs: seconds between reads of what the other shards committed.",
    )


class Settings(Strict):
    """The whole of config.yaml."""

    world: WorldSettings = Field(default_factory=WorldSettings)
    scrip: ScripSettings = Field(default_factory=ScripSettings)
    resources: ResourcesSettings = Field(default_factory=ResourcesSettings)
    agents: list[AgentSettings] = Field(default_factory=list)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    agent_loop: AgentLoopSettings = Field(default_factory=AgentLoopSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    oracle: OracleSettings = Field(default_factory=OracleSettings)
    exchange: ExchangeSettings = Field(default_factory=ExchangeSettings)
    robonomics: RobonomicsSettings = Field(default_factory=RobonomicsSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    fees: dict[str, NonNegativeInt] = Field(
        default_factory=dict,
        description="Scrip burnt per call of a genesis method (paid first, for the attempt),"
        " by 'artifact.method' (seed 004's transaction fees); default: none.",
    )

    @model_validator(mode="after")
    def _fees_name_methods(self) -> Settings:
        for key in self.fees:
            if not re.fullmatch(r"genesis_[a-z_]+\.[a-z_]+", key):
                raise ValueError(
                    f"fees: {key!r} is not a genesis method; name one as artifact.method, for"
                    " example genesis_escrow.purchase"
                )
        return self

    @model_validator(mode="after")
    def _lots_name_declared_goods(self) -> Settings:
        for good in self.exchange.lots:
            resource, side = good.split(":")
            kind = (
                "stock"
                if resource in self.resources.stock
                else "flow"
                if resource in self.resources.flow
                else None
            )
            if kind is None:
                raise ValueError(
                    f"exchange.lots: {good!r} names no declared resource; the resources:"
                    f" {', '.join([*self.resources.stock, *self.resources.flow])}"
                )
            if (side == "capacity") != (kind == "stock"):
                sides = "capacity" if kind == "stock" else "rate or units"
                raise ValueError(
                    f"exchange.lots: {resource} is a {kind} resource, traded as {sides}"
                )
        return self

    @model_validator(mode="after")
    def _agents_unique(self) -> Settings:
        seen: set[str] = set()
        for agent in self.agents:
            if agent.id in seen:
                raise ValueError(
                    f"agent id {agent.id!r} appears twice in agents; ids must be unique"
                )
            seen.add(agent.id)
        return self

    def api_key(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        """The LLM API key from the environment variable named by ``llm.api_key_env``."""
        value = (os.environ if environ is None else environ).get(self.llm.api_key_env)
        return SecretStr(value) if value else None

    def stock_allocation(self, resource: str) -> float:
        """One agent's starting share of a stock resource."""
        spec = self.resources.stock[resource]
        return spec.total / len(self.agents) if self.agents else 0.0


# --- loading -----------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicated keys instead of keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1}); keep only one", mark
            )
        seen[key] = key_node
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _strip(tp: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_at(
    loc: tuple[int | str, ...], root: type[BaseModel] | None = None
) -> type[BaseModel] | None:
    """The settings model that holds the key at ``loc`` (to list the keys it allows)."""
    tp: Any = root or Settings
    for part in loc[:-1]:
        tp = _strip(tp)
        if typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]  # the item (or value) type; ``part`` is its index/key
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and str(part) in tp.model_fields:
            tp = tp.model_fields[str(part)].annotation
        else:
            return None
    tp = _strip(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _describe(error: Mapping[str, Any], root: type[BaseModel] | None = None) -> str:
    loc = tuple(error["loc"])
    where = _path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if _SECRET_KEY.search(key):
            return (
                f"{where}: secrets are not read from config.yaml; remove it and put the value in"
                " the environment variable named by llm.api_key_env"
            )
        model = _model_at(loc, root)
        allowed = sorted(model.model_fields) if model else []
        hint = ""
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
        allowed_text = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"{where}: unknown key{hint}{allowed_text}"
    if kind == "missing":
        return f"{where}: required key is missing"
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
    message = str(error["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        if not loc:  # a whole-file rule; its message names the keys itself
            return message
    elif kind == "string_pattern_mismatch":
        if error.get("ctx", {}).get("pattern") == NAME_PATTERN:
            message = "must be a name of lowercase letters, digits and '_', starting with a letter"
        else:
            message = "must be an id of letters, digits, '_', '.', ':' or '-' (at most 64)"
    return f"{where}: {message[:1].lower()}{message[1:]}{shown}"


def parse_settings(data: object, source: str = "config.yaml") -> Settings:
    """Validate already-parsed YAML data; raise :class:`ConfigError` listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            source, [f"the top level must be a mapping of sections, got {type(data).__name__}"]
        )
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _errors(exc, Settings)) from None


def _errors(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    problems = []
    for error in exc.errors():
        # Dict keys that fail their pattern show up with a '[key]' marker; fold it in.
        loc = tuple(p for p in error["loc"] if p != "[key]")
        problems.append(_describe({**error, "loc": loc}, root))
    return problems


def read_mapping_file(path: Path, what: str) -> tuple[str, dict[Any, Any]]:
    """``(source, data)`` of one YAML file that holds a mapping (``what`` names it in errors),
    read as config.yaml is: duplicated keys and unreadable values are errors."""
    source = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise ConfigError(source, [f"cannot read {path}: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            source, [f"{what} must be UTF-8 text; byte {exc.start} is not (save it as UTF-8)"]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(
            source, [f"a value cannot be read: {str(exc).split(';')[0]}; use a smaller number"]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"{what} holds a mapping, got {type(data).__name__}"])
    return source, data


def validate_file(model: type[M], data: Mapping[str, Any], source: str) -> M:
    """``model`` validated from ``data``, or :class:`ConfigError` with every problem's key
    path (as config.yaml's errors are worded)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _errors(exc, model)) from None


def load_agent_file(path: Path) -> AgentSettings:
    """Read one ``genesis/agents/<id>.yaml``; its ``id`` defaults to the file name."""
    source, data = read_mapping_file(path, "an agent file")
    if data.setdefault("id", path.stem) != path.stem:
        raise ConfigError(
            source,
            [f"id {data['id']!r} differs from the file name {path.stem!r}; rename one of them"],
        )
    return validate_file(AgentSettings, data, source)


def load_settings(path: str | Path) -> Settings:
    """Read and validate ``path``; relative paths inside it are resolved against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [f"file not found: {path} (pass --config PATH)"]) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read {path}: {exc.strerror}"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(
            str(path), [f"a value cannot be read: {str(exc).split(';')[0]}; use a smaller number"]
        ) from None
    settings = parse_settings(data, str(path))
    updates = {
        key: path.parent / value
        for key, value in (
            ("database", settings.world.database),
            ("genesis", settings.world.genesis),
        )
        if not value.is_absolute()
    }
    if updates:
        settings = settings.model_copy(update={"world": settings.world.model_copy(update=updates)})
    local = settings.llm.local
    paths = {
        "model": None if local.model == "tiny" else Path(local.model),
        "tokenizer": local.tokenizer,
    }
    moved = {
        key: str(path.parent / value) if key == "model" else path.parent / value
        for key, value in paths.items()
        if value is not None and not value.expanduser().is_absolute()
    }
    if moved:
        llm = settings.llm.model_copy(update={"local": local.model_copy(update=moved)})
        settings = settings.model_copy(update={"llm": llm})
    robonomics = settings.robonomics.relative_to(path.parent)
    if robonomics is not settings.robonomics:
        settings = settings.model_copy(update={"robonomics": robonomics})
    return settings
