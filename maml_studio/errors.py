"""Errors shared across the engine; a leaf module, so that every layer can raise them."""


class ConfigError(ValueError):
    """A config document or value that cannot be used; the message names the field."""


class UsageError(Exception):
    """A mistake in a command's arguments, reported as one line."""
