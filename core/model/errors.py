"""The model layer's user-facing error, in a module of its own so every model module can raise it."""


class ModelLoadError(ValueError):
    """The folder cannot be loaded as asked; the message says why and what to do."""


def brief(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, without a trailing full stop, for quoting."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit].rstrip(".")
