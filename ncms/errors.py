"""The base of every error an operator or a user can act on; its message says what to do."""


class NcmsError(Exception):
    """Shown to the person as one line (CLI) or a message (web), never as a traceback."""
