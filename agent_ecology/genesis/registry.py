"""The set of genesis artifacts of a world: built from the config, installed, invoked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from agent_ecology.config import ExchangeSettings, Settings
from agent_ecology.genesis.base import GenesisArtifact, Invocation, InvocationError
from agent_ecology.genesis.debt import make_debt_artifact
from agent_ecology.genesis.escrow import make_escrow_artifact
from agent_ecology.genesis.event_log import make_event_log_artifact
from agent_ecology.genesis.exchange import default_lots, make_exchange_artifact
from agent_ecology.genesis.handbook import Handbook, build_handbook, make_handbook_artifact
from agent_ecology.genesis.ledger import make_ledger_artifact
from agent_ecology.genesis.oracle import make_oracle_artifact
from agent_ecology.genesis.rights import make_rights_artifact
from agent_ecology.genesis.tasks import make_tasks_artifact
from agent_ecology.ledger import Ledger, UnknownArtifact, ops
from agent_ecology.tasks import TaskBoard

__all__ = ["Genesis"]


class Genesis:
    """The world's genesis artifacts by id, and its handbook."""

    def __init__(
        self,
        artifacts: Mapping[str, GenesisArtifact],
        handbook: Handbook,
        *,
        exchange: ExchangeSettings | None = None,
        agents: int = 1,
        rebuild: Callable[[Mapping[str, float]], Handbook] | None = None,
    ) -> None:
        self.artifacts = dict(artifacts)
        self.handbook = handbook
        self.exchange = exchange or ExchangeSettings()
        self.agents = agents
        self._rebuild = rebuild
        """The handbook again, with the goods the exchange opened with (at install)."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        actions_text: str,
        provider: str,
        agents: int,
        tasks: TaskBoard | None = None,
    ) -> Genesis:
        """Every genesis artifact, with a handbook generated from ``settings`` (and the
        tasks of ``tasks``, the world's task board, if it has one)."""
        handbook = Handbook({})
        arts = [
            make_ledger_artifact(),
            make_escrow_artifact(),
            make_exchange_artifact(),
            make_rights_artifact(),
            make_debt_artifact(),
            make_oracle_artifact(settings.oracle),
            make_tasks_artifact(tasks),
            make_event_log_artifact(),
            make_handbook_artifact(handbook),
        ]
        rebuild = partial(
            build_handbook,
            settings,
            arts,
            actions_text=actions_text,
            provider=provider,
            agents=agents,
            tasks=tasks.specs if tasks is not None else None,
        )
        handbook.pages = rebuild().pages
        return cls(
            {a.id: a for a in arts},
            handbook,
            exchange=settings.exchange,
            agents=agents,
            rebuild=lambda lots: rebuild(exchange_lots=lots),
        )

    async def install(self, ledger: Ledger, *, authority: str) -> list[str]:
        """Write each artifact's interface (and the handbook index) as its content.

        Owned by the system principal ``authority``; rewritten only when it changed.
        Returns the ids written.
        """
        written = []
        # Principals for the artifacts that hold things (the escrow holds listed artifacts).
        await ledger.submit(ops.EnsurePrincipal(principal_id=ops.ESCROW, principal_kind="system"))
        await ledger.submit(ops.EnsurePrincipal(principal_id=ops.ORACLE, principal_kind="system"))
        await ledger.submit(ops.EnsurePrincipal(principal_id=ops.SANDBOX, principal_kind="system"))
        await ledger.submit(ops.EnsurePrincipal(principal_id=ops.EXCHANGE, principal_kind="system"))
        lots = {**default_lots(await ledger.resources(), self.agents), **self.exchange.lots}
        await ledger.submit(ops.ExchangeOpen(authority=authority, lots=lots, fee=self.exchange.fee))
        if self._rebuild is not None:
            self.handbook.pages = self._rebuild(lots).pages
        for art in self.artifacts.values():
            content = art.describe()
            if art.id == "genesis_handbook":
                content = self.handbook.pages["index"] + "\n\n" + content
            try:
                current = await ledger.artifact(art.id)
            except UnknownArtifact:
                current = None
            if current is None or current.content != content:
                await ledger.submit(
                    ops.WriteArtifact(actor=authority, artifact_id=art.id, content=content)
                )
                written.append(art.id)
        return written

    async def invoke(
        self, inv: Invocation, artifact_id: str, method: str, args: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Call ``artifact_id.method(**args)`` as ``inv.actor``."""
        art = self.artifacts.get(artifact_id)
        if art is None:
            known = ", ".join(self.artifacts)
            try:
                await inv.ledger.artifact(artifact_id)
            except UnknownArtifact:
                raise InvocationError(
                    "unknown_artifact",
                    f"there is no artifact {artifact_id!r}; artifacts with methods: {known}",
                ) from None
            raise InvocationError(
                "not_invocable",
                f"{artifact_id!r} is a data artifact and has no methods; read it with"
                f" read_artifact. Artifacts with methods: {known}",
            )
        bound, parsed = art.bind(args, method)
        return await bound.handler(inv, parsed)
