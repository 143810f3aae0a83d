"""What every section of ``config.yaml`` is built from: a strict model, bounded numbers, names.

:mod:`agent_ecology.config` composes the sections into one :class:`~agent_ecology.config.Settings`
and turns validation errors into messages; a subsystem that owns its section (robonomics:
:mod:`agent_ecology.robonomics.settings`) builds it from these, so that every section
refuses the same things in the same words. This module imports nothing of the package.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_COUNT",
    "MAX_NUMBER",
    "NAME_PATTERN",
    "PRINCIPAL_PATTERN",
    "Name",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "PrincipalId",
    "Strict",
]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""A resource, task or actor name (config.py words its mismatch message by this pattern)."""
PRINCIPAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""An agent or principal id."""
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
PrincipalId = Annotated[str, Field(pattern=PRINCIPAL_PATTERN)]


class Strict(BaseModel):
    """A settings section: unknown keys are errors and the settings never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


MAX_NUMBER = 1e15
"""The largest number any setting takes: beyond it sums and products stop being exact."""
MAX_COUNT = 2**53
# strict: true is not 1.0 and "60" is not 60; a YAML number is needed.
PositiveFloat = Annotated[float, Field(gt=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True)]
NonNegativeFloat = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True)]
PositiveInt = Annotated[int, Field(gt=0, le=MAX_COUNT, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]
