"""The sandbox's errors that callers above it catch (importable without loading wasmtime)."""

__all__ = ["SandboxBuildError"]


class SandboxBuildError(RuntimeError):
    """The sandbox could not be built; the message says why and what to do."""
