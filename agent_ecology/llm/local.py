"""Local models: agents think through a torch model driven by the MOA, many turns per batch.

With a remote API one call is one agent's turn. A model that runs here can do better: the
:class:`TurnBatcher` gathers the turns that agents submit (up to ``max_batch``, or what
arrives within ``batch_window`` seconds) and runs them as **one batch**, each row one
agent's turn through the same agent-turn program (:mod:`agent_ecology.moa.turn`). Each
agent is answered the moment its own row is done, not when the slowest row is.

The batches run on one worker thread that owns the model, so the event loop (and every
agent not thinking) carries on while the model works. One row's failure (a context that
cannot be encoded) fails that turn only; a model that fails fails the batch's turns with a
retryable error, and the service goes on with the next batch; closing the service ends the
batch in progress at its next step and answers every waiting turn, so no agent waits for
ever.

Accounting: local turns cost no dollars. Each completion carries its tokens (charged to
``llm_rate``) and its share of the batch's measured time (charged to ``compute``): each
step's time is shared by the rows that wrote a token in it.

Nothing is downloaded: the model is the built-in tiny decoder or a folder already on disk.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from agent_ecology.config import ConfigError, LocalModelSettings
from agent_ecology.llm.errors import ProviderError
from agent_ecology.llm.types import Completion, CompletionRequest, Message, Usage

__all__ = [
    "BatchRecord",
    "LocalModelFailed",
    "LocalProvider",
    "RowRecord",
    "TurnBatcher",
    "context_text",
    "load_local_model",
]

_log = logging.getLogger("agent_ecology.llm.local")

MOA_SPECIALS = ("<pad>", "<esc>", "<jump>", "<end>")
"""The control tokens the agent-turn program needs in the tokenizer."""


class LocalModelFailed(ProviderError):
    """A turn on the local model failed; ``retryable`` says whether trying again can help."""

    code = "local_model_failed"

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message, usage=Usage())
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class RowRecord:
    """One turn of a batch, as it was charged."""

    agent_id: str
    tokens: int
    context_tokens: int
    seconds: float
    finished: bool


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch: its turns, and its measured time (the sum of the rows' shares)."""

    rows: tuple[RowRecord, ...]
    seconds: float
    failed: int = 0  # turns of this batch answered with an error


@dataclass(eq=False, slots=True)
class _Job:
    agent_id: str
    context: str
    seed: int
    token: anyio.lowlevel.EventLoopToken
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None  # a TurnResult
    error: ProviderError | None = None
    answered: bool = False  # set by the worker thread, once
    abandoned: bool = False  # the submitter stopped waiting (cancelled)


class TurnBatcher:
    """Runs submitted turns in batches on one worker thread that owns the model.

    ``model`` and ``turn`` are the driver's model and the compiled agent-turn program
    (:func:`agent_ecology.moa.turn.turn_program`). :meth:`run` submits a turn and waits for
    its result; :meth:`aclose` stops the service.
    """

    def __init__(
        self,
        model: Any,
        turn: Any,
        *,
        max_batch: int = 64,
        window: float = 0.02,
        temperature: float = 1.0,
        device: str = "cpu",
        history: int = 10_000,
        condition: threading.Condition | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if window < 0:
            raise ValueError(f"the batch window must be >= 0 seconds, got {window}")
        self.model = model
        self.turn = turn
        self.max_batch = max_batch
        self.window = window
        self.temperature = temperature
        self.device = device
        self.batches: collections.deque[BatchRecord] = collections.deque(maxlen=history)
        # Totals over the service's life (``batches`` keeps only the last ``history``):
        self.turns = 0  # results delivered to a waiting agent
        self.batch_count = 0  # batches run on the model
        self.rows_run = 0  # rows those batches ran
        self.model_seconds = 0.0  # their measured time
        self.failed_turns = 0  # turns answered with an error by a batch
        self._queue: collections.deque[_Job] = collections.deque()
        # The lock the worker thread and the submitters share; a test may pass one that
        # widens a race window.
        self._cond = condition if condition is not None else threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def pending(self) -> int:
        """Turns submitted and not yet taken into a batch."""
        with self._cond:
            return len(self._queue)

    async def run(self, agent_id: str, context: str, seed: int) -> Any:
        """Submit one turn and wait for its :class:`~agent_ecology.moa.turn.TurnResult`.

        Raises :class:`LocalModelFailed` when the turn failed or the service is closed.
        """
        job = _Job(agent_id, context, seed, anyio.lowlevel.current_token())
        with self._cond:
            if self._closing:
                raise LocalModelFailed(
                    "the local model is shut down; this turn was not run", retryable=False
                )
            self._queue.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="agent-ecology-local-model", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        try:
            await job.done.wait()
        except BaseException:
            job.abandoned = True  # its row (if running) finishes unseen; nobody else waits
            raise
        if job.error is not None:
            raise job.error
        return job.result

    async def aclose(self) -> None:
        """Stop: the batch in progress ends at its next step; every waiting turn is answered."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            await anyio.to_thread.run_sync(thread.join)

    # --- the worker thread ----------------------------------------------------------------

    def _serve(self) -> None:
        jobs: list[_Job] = []
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    deadline = time.monotonic() + self.window
                    while len(self._queue) < self.max_batch and not self._closing:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                    closing = self._closing  # decided under the lock, with the queue
                    if closing:
                        jobs = list(self._queue)
                        self._queue.clear()
                    else:
                        n = min(self.max_batch, len(self._queue))
                        jobs = [self._queue.popleft() for _ in range(n)]
                if closing:
                    for job in jobs:
                        self._answer(job, error=_shut_down())
                    return
                self._run_batch([job for job in jobs if not job.abandoned])
                jobs = []
        except BaseException as exc:  # a bug here must not leave anyone waiting for ever
            _log.exception("local model: the worker thread failed; the local model is closed")
            error = LocalModelFailed(
                f"the local model's worker failed ({exc!r}) and is closed; see the log",
                retryable=False,
            )
            with self._cond:
                self._closing = True
                jobs.extend(self._queue)
                self._queue.clear()
            for job in jobs:
                self._answer(job, error=error)

    def _run_batch(self, jobs: list[_Job]) -> None:
        from agent_ecology.moa.turn import encode_context, run_turns

        ready: list[tuple[_Job, list[int]]] = []
        failed = 0
        for job in jobs:  # one agent's bad context fails its own turn only
            try:
                ready.append((job, encode_context(self.turn, job.context)))
            except Exception as exc:
                failed += 1
                self._answer(
                    job,
                    error=LocalModelFailed(
                        f"your context could not be encoded for the local model ({exc!r});"
                        " this turn had no action",
                        retryable=False,
                    ),
                )
        self.failed_turns += failed
        if not ready:
            return
        rows: dict[int, RowRecord] = {}

        def on_result(index: int, result: Any) -> None:
            job = ready[index][0]
            rows[index] = RowRecord(
                job.agent_id, result.tokens, result.context_tokens, result.seconds, result.finished
            )
            if not result.finished and self._closing:
                self._answer(job, error=_shut_down())
            else:
                self._answer(job, result=result)

        try:
            run_turns(
                self.model,
                self.turn,
                [ids for _, ids in ready],
                temperature=self.temperature,
                seeds=[job.seed for job, _ in ready],
                on_result=on_result,
                should_stop=lambda: self._closing,
                device=self.device,
            )
        except Exception as exc:  # the model failed: every turn of this batch is told
            _log.exception("local model: a batch of %d turns failed", len(ready))
            error = LocalModelFailed(
                f"the local model failed on this batch ({exc!r}); it may work on a retry",
                retryable=True,
            )
            for job, _ in ready:
                if not job.answered:
                    failed += 1
                    self.failed_turns += 1
                    self._answer(job, error=error)
        answered = tuple(rows[i] for i in sorted(rows))
        record = BatchRecord(answered, sum(r.seconds for r in answered), failed)
        self.batches.append(record)
        self.batch_count += 1
        self.rows_run += len(answered)
        self.model_seconds += record.seconds

    def _answer(self, job: _Job, *, result: Any = None, error: ProviderError | None = None) -> None:
        if job.answered:
            return
        job.answered = True

        def deliver() -> None:
            job.result, job.error = result, error
            if error is None and not job.abandoned:
                self.turns += 1
            job.done.set()

        if job.abandoned:
            return
        try:
            _post(job.token, deliver)
        except Exception:  # the submitter's event loop is gone: nobody is waiting
            _log.debug("local model: could not answer %s (event loop closed)", job.agent_id)


def _post(token: anyio.lowlevel.EventLoopToken, call: Callable[[], None]) -> None:
    """Have ``call`` run on the event loop of ``token`` without waiting for it: the model's
    thread goes on with the next step while the loop wakes the agent."""
    native = token.native_token
    post = getattr(native, "call_soon_threadsafe", None)  # asyncio's loop
    if post is None:
        post = getattr(native, "run_sync_soon", None)  # trio's token
    if post is not None:
        post(call)
    else:  # another backend: wait for the loop to run it
        anyio.from_thread.run_sync(call, token=token)


def _shut_down() -> LocalModelFailed:
    return LocalModelFailed(
        "the local model was shut down before this turn finished", retryable=False
    )


def context_text(messages: Sequence[Message]) -> str:
    """The chat messages as one text, the way the local model reads them."""
    return "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in messages) + "\n"


def compact_context(obs: Mapping[str, Any]) -> str:
    """A context made for a small local model, from the turn's structured state: what it may
    do, its last result, its balances, who it is. The model reads the last
    ``context_tokens`` of it, so what matters most comes last: a cut drops the general line
    first, never the agent's id, balances or last result."""
    last = "none yet"
    if obs.get("last_action") is not None:
        verdict = "ok" if obs.get("last_ok") else "refused"
        last = f"{obs['last_action']} {verdict}: {obs.get('last_message') or ''}".strip()
    flows = ", ".join(f"{name} {value:.3g}" for name, value in (obs.get("flow") or {}).items())
    stock = ", ".join(
        f"{name} {value:.4g} free" for name, value in (obs.get("stock") or {}).items()
    )
    balances = "; ".join(x for x in (f"scrip {obs.get('scrip', 0)}", flows, stock) if x)
    return "\n".join(
        [
            "An economy of agents under real limits. Each turn you take one action: noop"
            " (wait), note (remember), write_artifact (make something others may buy) or query"
            " (your balances).",
            f"Your last action: {last}",
            f"Your balances: {balances}",
            f"You are {obs.get('agent_id', 'an agent')}; this is your turn {obs.get('turn', 1)}.",
            "",
        ]
    )


class LocalProvider:
    """The :class:`~agent_ecology.llm.types.Provider` for a model that runs here."""

    def __init__(
        self,
        model: Any,
        turn: Any,
        *,
        name: str,
        seed: int = 0,
        max_batch: int = 64,
        window: float = 0.02,
        temperature: float = 1.0,
        device: str = "cpu",
    ) -> None:
        self.batcher = TurnBatcher(
            model,
            turn,
            max_batch=max_batch,
            window=window,
            temperature=temperature,
            device=device,
        )
        self.model_name = name
        self.seed = seed
        self._calls: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: LocalModelSettings) -> LocalProvider:
        """Load the configured model; :class:`ConfigError` if it cannot be used."""
        model, turn, name = load_local_model(settings)
        return cls(
            model,
            turn,
            name=name,
            seed=settings.seed,
            max_batch=settings.max_batch,
            window=settings.batch_window,
            temperature=settings.temperature,
            device=settings.device,
        )

    @property
    def name(self) -> str:
        return f"local model {self.model_name} (batches of up to {self.batcher.max_batch})"

    async def complete(self, request: CompletionRequest) -> Completion:
        n = self._calls.get(request.agent_id, 0) + 1
        self._calls[request.agent_id] = n
        # Each turn samples from its own seed, so what it writes does not depend on which
        # other turns share its batch, and a run with the same seed writes the same turns.
        seed = zlib.crc32(f"{self.seed}:{request.agent_id}:{n}".encode())
        text = (
            compact_context(request.observation)
            if request.observation
            else context_text(request.messages)
        )
        result = await self.batcher.run(request.agent_id, text, seed)
        return Completion(
            text=result.reply,
            usage=Usage(result.context_tokens, result.tokens - result.context_tokens),
            model=self.model_name,
            finish_reason="stop" if result.finished else "length",
            compute_seconds=result.seconds,
        )

    async def aclose(self) -> None:
        await self.batcher.aclose()


def load_local_model(settings: LocalModelSettings) -> tuple[Any, Any, str]:
    """``(model, turn program, name)`` for ``settings``; :class:`ConfigError` naming the key
    when the model cannot be used. Nothing is downloaded."""
    import torch

    from agent_ecology.moa.tokenizer import ByteTokenizer

    def refuse(*problems: str) -> ConfigError:
        return ConfigError("config.yaml", list(problems))

    try:
        device = torch.device(settings.device)
    except RuntimeError as exc:
        raise refuse(f"llm.local.device: {exc} (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise refuse("llm.local.device: no CUDA device is available here; use cpu")
    if device.type == "meta":
        raise refuse("llm.local.device: 'meta' holds no data and cannot run a model; use cpu")
    try:
        torch.empty(1, device=device)  # the device exists and works here
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise refuse(
            f"llm.local.device: {settings.device!r} cannot be used here ({reason}); use cpu"
            " or a device this machine has"
        ) from None
    if settings.model == "tiny":
        from agent_ecology.moa.tiny import TinyDecoder

        if settings.tokenizer is not None:
            raise refuse("llm.local.tokenizer: the tiny model has its own; remove this key")
        tokenizer: Any = ByteTokenizer()
        turn = _turn(settings, tokenizer, TinyDecoder.POSITIONS, "the tiny model's")
        model = TinyDecoder(tokenizer.vocab_size, seed=settings.seed).to(device)
        return model, turn, f"tiny (random weights, seed {settings.seed})"
    folder = Path(settings.model).expanduser()
    tok_folder = settings.tokenizer.expanduser() if settings.tokenizer is not None else folder
    problems = []
    if not folder.is_dir():
        problems.append(
            f"llm.local.model: no folder {str(folder)!r}; give the folder of a Hugging Face"
            " causal LM saved on disk (config.json and weights), or 'tiny'. Nothing is"
            " downloaded."
        )
    elif not (folder / "config.json").is_file():
        problems.append(
            f"llm.local.model: {str(folder)!r} has no config.json; it is not a saved"
            " Hugging Face model (save one with model.save_pretrained(folder))"
        )
    if settings.tokenizer is not None and not tok_folder.is_dir():
        problems.append(f"llm.local.tokenizer: no folder {str(tok_folder)!r}")
    if problems:
        raise refuse(*problems)
    try:
        import transformers
    except ImportError:
        raise refuse(
            "llm.local.model: a Hugging Face model needs the transformers package:"
            " pip install 'agent-ecology[hf]'"
        ) from None
    from agent_ecology.moa.hf import HFTokenizer, causal_lm

    try:
        hf_tok = transformers.AutoTokenizer.from_pretrained(str(tok_folder), local_files_only=True)
        added = hf_tok.add_special_tokens(
            {"additional_special_tokens": [t for t in MOA_SPECIALS if t not in hf_tok.get_vocab()]}
        )
        hf_model: Any = transformers.AutoModelForCausalLM.from_pretrained(
            str(folder), local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise refuse(f"llm.local.model: cannot load {str(folder)!r}: {exc}") from None
    if added or hf_model.get_input_embeddings().num_embeddings < len(hf_tok):
        # The MOA's control tokens are new to the model: the MOA forces or feeds them, and
        # the action's masks keep them out of its strings, so fresh embeddings will do.
        hf_model.resize_token_embeddings(len(hf_tok))
    hf_model.to(device)
    limit = getattr(hf_model.config, "max_position_embeddings", None) or getattr(
        hf_model.config, "n_positions", None
    )
    turn = _turn(settings, HFTokenizer(hf_tok), limit, "the model's")
    return causal_lm(hf_model), turn, folder.name


def _turn(settings: LocalModelSettings, tokenizer: Any, positions: object, whose: str) -> Any:
    """The agent-turn program for ``tokenizer``; a ConfigError when a turn could run past
    the model's ``positions`` (when it says how many it has)."""
    from agent_ecology.moa.turn import turn_program

    turn = turn_program(
        tokenizer,
        think_tokens=settings.think_tokens,
        free_tokens=settings.free_tokens,
        context_tokens=settings.context_tokens,
    )
    if isinstance(positions, int) and turn.max_tokens > positions:
        raise ConfigError(
            "config.yaml",
            [
                f"llm.local: a turn can take {turn.max_tokens} tokens, more than {whose}"
                f" {positions} positions; lower context_tokens, think_tokens or free_tokens"
            ],
        )
    return turn
