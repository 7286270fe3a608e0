"""The CLI's own error type, in a module of its own so command modules need not import main."""


class CommandError(Exception):
    """A user-facing failure: printed as one clear line, exit status 2."""
