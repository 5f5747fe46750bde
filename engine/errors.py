"""Errors a user can cause. The CLI and the app render them as one line, no traceback."""


class MctsLabError(Exception):
    """Base class of every error that is the user's to fix; its message says how."""


class InputError(MctsLabError):
    """A problem, puzzle or setting that is not valid."""


class ModelLoadError(MctsLabError):
    """A model that cannot be found, loaded or used as a causal language model."""


class SearchExhausted(MctsLabError):
    """Every branch of the tree has ended: another iteration would add nothing."""
