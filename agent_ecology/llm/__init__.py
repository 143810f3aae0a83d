"""Where agents think: providers behind one small protocol, prices, and the metered call.

- :class:`~agent_ecology.llm.types.Provider`: one attempt per call, typed errors.
- ``agent_ecology.llm.openai_compat.OpenAICompatibleProvider``: any OpenAI-compatible
  endpoint through the ``openai`` SDK (imported only when used).
- :class:`ZeroIntelligencePolicy`: the baseline policy, no model needed.
- :class:`ScriptedProvider`: scripted replies, for tests.
- :class:`Budget`: the one authority on prices, worst cases and the world's dollars.
- :class:`LLMCaller`: reserves the worst case, retries, and charges every attempt.
"""

from agent_ecology.llm.baseline import ZeroIntelligencePolicy
from agent_ecology.llm.budget import Budget, ModelOverbilled, ShareSpent, UnpricedModel
from agent_ecology.llm.calls import LLMCaller, RetryPolicy, Thought
from agent_ecology.llm.errors import (
    ConnectionLost,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    RequestRejected,
    ServerError,
)
from agent_ecology.llm.pricing import cost_nd, prompt_token_bound, worst_case_nd
from agent_ecology.llm.scripted import ScriptedProvider
from agent_ecology.llm.types import Completion, CompletionRequest, Message, Provider, Usage

__all__ = [
    "Budget",
    "Completion",
    "CompletionRequest",
    "ConnectionLost",
    "LLMCaller",
    "MalformedResponse",
    "Message",
    "ModelOverbilled",
    "Provider",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnreachable",
    "RateLimited",
    "RequestRejected",
    "RetryPolicy",
    "ScriptedProvider",
    "ServerError",
    "ShareSpent",
    "Thought",
    "UnpricedModel",
    "Usage",
    "ZeroIntelligencePolicy",
    "cost_nd",
    "prompt_token_bound",
    "worst_case_nd",
]
