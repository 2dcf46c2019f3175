"""What every layer shares: the root of the typed errors. Imports nothing of the project's."""

from .errors import ConfigError, SatudataError

__all__ = ["ConfigError", "SatudataError"]
