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
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

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
    "RunSettings",
    "ScripSettings",
    "Settings",
    "SleepPolicy",
    "StockResource",
    "WorldSettings",
    "load_agent_file",
    "load_settings",
    "parse_settings",
]

_SECRET_KEY = re.compile(r"(api_?key|secret|password|token)$", re.IGNORECASE)
_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_PRINCIPAL = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class ConfigError(ValueError):
    """config.yaml could not be read or is not valid; the message lists every problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not valid:\n{lines}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


MAX_NUMBER = 1e15
"""The largest number any setting takes: beyond it sums and products stop being exact."""
MAX_COUNT = 2**53
# strict: true is not 1.0 and "60" is not 60; a YAML number is needed.
PositiveFloat = Annotated[float, Field(gt=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True)]
NonNegativeFloat = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True)]
PositiveInt = Annotated[int, Field(gt=0, le=MAX_COUNT, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]


class WorldSettings(_Strict):
    """Where the world lives."""

    database: Path = Field(
        default=Path("data/world.db"),
        description="The SQLite file; relative paths are relative to config.yaml.",
    )
    system_principal: Annotated[str, Field(pattern=_PRINCIPAL)] = Field(
        default="world", description="The system principal that mints the starting scrip."
    )
    genesis: Path = Field(
        default=Path("genesis"),
        description="The genesis folder (agents/*.yaml, handbook/*.md); relative to config.yaml.",
    )
    busy_timeout: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False, strict=True)] = Field(
        default=10.0,
        description="Seconds a write waits for a lock another program holds on the database"
        " before it fails (and is tried again).",
    )


MAX_SCRIP_EACH = 10**15
"""The most starting scrip for one agent (the total over all agents must fit in 64 bits)."""


class ScripSettings(_Strict):
    """The currency."""

    initial: Annotated[int, Field(ge=0, le=MAX_SCRIP_EACH, strict=True)] = Field(
        default=100, description="Scrip minted to each agent when it is created."
    )


class StockResource(_Strict):
    """A fixed pool (seed 004): ``total`` is shared out among the agents."""

    total: NonNegativeFloat
    unit: str = "units"
    distribution: Literal["equal"] = "equal"


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


class FlowResource(_Strict):
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


class ResourcesSettings(_Strict):
    """Stock and flow resources, by name."""

    stock: dict[Annotated[str, Field(pattern=_NAME)], StockResource] = Field(default_factory=dict)
    flow: dict[Annotated[str, Field(pattern=_NAME)], FlowResource] = Field(default_factory=dict)

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


class FlowOverride(_Strict):
    """An agent's own rate or capacity for a flow resource."""

    rate: NonNegativeFloat | None = None
    capacity: PositiveFloat | None = None


class SleepPolicy(_Strict):
    """How an agent paces itself: a pause after every turn (its own choice)."""

    between_turns: NonNegativeFloat = 0.0


class AgentSettings(_Strict):
    """One agent: in config.yaml's ``agents`` list or in ``genesis/agents/<id>.yaml``.

    Keys left out take the defaults: ``scrip.initial``, ``llm.model``, no system prompt of its
    own, no ``max_tokens`` cap (seed 003: agents choose their own limits, or none).
    """

    id: Annotated[str, Field(pattern=_PRINCIPAL)]
    scrip: Annotated[int, Field(ge=0, le=MAX_SCRIP_EACH, strict=True)] | None = Field(
        default=None, description="Starting scrip; defaults to scrip.initial."
    )
    model: str | None = None
    system_prompt: str | None = None
    max_tokens: PositiveInt | None = None
    sleep_policy: SleepPolicy | None = None
    stock: dict[Annotated[str, Field(pattern=_NAME)], NonNegativeFloat] = Field(
        default_factory=dict, description="Starting stock quotas instead of the equal share."
    )
    flow: dict[Annotated[str, Field(pattern=_NAME)], FlowOverride] = Field(
        default_factory=dict, description="Own rate/capacity instead of the resource's."
    )


class ModelPrice(_Strict):
    """What a model costs, in dollars per million tokens, and its longest possible answer."""

    input: NonNegativeFloat
    output: NonNegativeFloat
    max_output_tokens: PositiveInt


class LocalModelSettings(_Strict):
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


class LLMSettings(_Strict):
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
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="The request field that carries the output cap; OpenAI's reasoning"
        " models want max_completion_tokens.",
    )


class AgentLoopSettings(_Strict):
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


class OracleSettings(_Strict):
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


TaskKind = Literal["complex", "simple"]


def _default_draw() -> dict[TaskKind, float]:
    return {"complex": 1.5, "simple": 1.0}


def _default_shape() -> dict[TaskKind, float]:
    return {"complex": 2.0, "simple": 0.0}


class RobonomicsTask(_Strict):
    """A production task an Oracle directs its robots to do."""

    kind: Literal["complex", "simple"] = Field(
        description="complex: draws more TokenTorq, starts slowly, ends high; simple: flat."
    )
    complexity: PositiveFloat = Field(
        default=1.0,
        description="Sets the TokenTorq a robot must hold before producing"
        " (complexity x giskard.min_token_torq_per_complexity).",
    )
    ticks: PositiveInt = Field(default=20, description="How many ticks production lasts.")


class RobonomicsOracle(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    task: str = Field(description="A key of robonomics.tasks.")


class RobonomicsRobot(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    oracle: str = Field(description="The name of the Oracle it works for.")
    agent: Annotated[str, Field(pattern=_PRINCIPAL)] | None = Field(
        default=None, description="The agent it is bound to: Isaac mints its Torq to them."
    )
    sit_rep: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="The robot's situation report, merged into requests."
    )
    experience: dict[Literal["complex", "simple"], NonNegativeInt] = Field(
        default_factory=dict, description="Tasks of each kind it has done already."
    )


class RobonomicsGiskard(_Strict):
    token_torq_capacity: NonNegativeFloat = Field(
        default=10.0, description="TokenTorq per tick, shared among the active drains."
    )
    tick_rate: PositiveFloat | None = Field(
        default=None, description="TokenTorq per tick before the first step (default: capacity)."
    )
    min_token_torq_per_complexity: PositiveFloat = Field(
        default=10.0, description="TokenTorq a robot must hold per unit of task complexity."
    )


class RobonomicsMining(_Strict):
    """TorqFountain's formula (agent_ecology/robonomics/mining.py)."""

    base_rate: PositiveFloat = 1.0
    learning: NonNegativeFloat = Field(
        default=1.0, description="Experience multiplies mining by up to 1 + learning."
    )
    learning_scale: PositiveFloat = Field(
        default=3.0, description="Tasks of a kind it takes to get ~63% of the experience gain."
    )
    elasticity: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.5,
        description="How much a lower tick_rate raises Torq per TokenTorq (0 <= e < 1, so a"
        " lower tick_rate still gives less Torq in all).",
    )
    reference_tick_rate: PositiveFloat = 1.0
    draw: dict[Literal["complex", "simple"], PositiveFloat] = Field(
        default_factory=_default_draw,
        description="TokenTorq drawn per tick, per unit of tick_rate.",
    )
    shape: dict[Literal["complex", "simple"], NonNegativeFloat] = Field(
        default_factory=_default_shape,
        description="Production curve exponent: 0 is flat, higher starts slower, ends higher.",
    )

    @model_validator(mode="after")
    def _both_kinds(self) -> RobonomicsMining:
        for key in ("draw", "shape"):
            missing = {"complex", "simple"} - set(getattr(self, key))
            if missing:
                raise ValueError(f"mining.{key} needs a value for {sorted(missing)}")
        return self


class RobonomicsSettings(_Strict):
    """The TokenTorq training loop of a robot economy (ROBONOMICS.md); off by default."""

    enabled: bool = Field(default=False, description="Tick the loop while agents run.")
    tick_period: PositiveFloat = Field(default=1.0, description="Seconds between ticks.")
    ticks_per_step: PositiveInt = 4
    max_retries: NonNegativeInt = Field(
        default=3, description="Times a failure-retry node spawns a failed flow again."
    )
    mint_rate: NonNegativeFloat = Field(
        default=1.0, description="Scrip Isaac mints to a robot's agent per unit of Torq."
    )
    log_path: Path | None = Field(
        default=None, description="The flow log file (default: flow_logs.txt beside the database)."
    )
    brla: Annotated[str, Field(pattern=_NAME)] = "brla"
    tta_request_data: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="The BRLA's TokenTorqAuth request data."
    )
    giskard: RobonomicsGiskard = Field(default_factory=RobonomicsGiskard)
    mining: RobonomicsMining = Field(default_factory=RobonomicsMining)
    tasks: dict[Annotated[str, Field(pattern=_NAME)], RobonomicsTask] = Field(default_factory=dict)
    oracles: list[RobonomicsOracle] = Field(default_factory=list)
    robots: list[RobonomicsRobot] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> RobonomicsSettings:
        oracles = [o.name for o in self.oracles]
        for names, what in ((oracles, "oracles"), ([r.name for r in self.robots], "robots")):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"robonomics.{what}: {dupes[0]!r} appears twice")
        for i, oracle in enumerate(self.oracles):
            if oracle.task not in self.tasks:
                known = ", ".join(self.tasks) or "none: add robonomics.tasks"
                raise ValueError(
                    f"robonomics.oracles[{i}].task: {oracle.task!r} is not a task ({known})"
                )
        for i, robot in enumerate(self.robots):
            if robot.oracle not in oracles:
                known = ", ".join(oracles) or "none: add robonomics.oracles"
                raise ValueError(
                    f"robonomics.robots[{i}].oracle: {robot.oracle!r} is not an oracle ({known})"
                )
        if self.enabled and not self.robots:
            raise ValueError("robonomics.enabled is true but robonomics.robots is empty")
        return self


class RunSettings(_Strict):
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


class Settings(_Strict):
    """The whole of config.yaml."""

    world: WorldSettings = Field(default_factory=WorldSettings)
    scrip: ScripSettings = Field(default_factory=ScripSettings)
    resources: ResourcesSettings = Field(default_factory=ResourcesSettings)
    agents: list[AgentSettings] = Field(default_factory=list)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    agent_loop: AgentLoopSettings = Field(default_factory=AgentLoopSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    oracle: OracleSettings = Field(default_factory=OracleSettings)
    robonomics: RobonomicsSettings = Field(default_factory=RobonomicsSettings)

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
        if error.get("ctx", {}).get("pattern") == _NAME:
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


def load_agent_file(path: Path) -> AgentSettings:
    """Read one ``genesis/agents/<id>.yaml``; its ``id`` defaults to the file name."""
    source = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise ConfigError(source, [f"cannot read {path}: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(
            source, [f"a value cannot be read: {str(exc).split(';')[0]}; use a smaller number"]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"an agent file holds a mapping, got {type(data).__name__}"])
    if data.setdefault("id", path.stem) != path.stem:
        raise ConfigError(
            source,
            [f"id {data['id']!r} differs from the file name {path.stem!r}; rename one of them"],
        )
    try:
        return AgentSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _errors(exc, AgentSettings)) from None


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
    log_path = settings.robonomics.log_path
    if log_path is not None and not log_path.is_absolute():
        robonomics = settings.robonomics.model_copy(update={"log_path": path.parent / log_path})
        settings = settings.model_copy(update={"robonomics": robonomics})
    return settings
