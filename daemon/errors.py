"""The project's own exceptions, so that no caller has to know which library failed."""


class ConfigError(ValueError):
    """A setting is missing or out of range; the message names the variable and the flag."""


class StoreUnavailable(Exception):
    """PostgreSQL cannot be reached right now (connection lost, server starting or restarting).

    Transient by definition: writers retry it with backoff, readers answer 503.
    """


class StoreError(Exception):
    """PostgreSQL refused a statement for a reason that retrying will not fix."""
