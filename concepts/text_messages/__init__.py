"""TextMessages: one text about a call, sent once, and the replies to it (see concept.py)."""

from .commands import Command, command_of, is_bare
from .concept import REPLY_WINDOW, TextMessages

__all__ = ["REPLY_WINDOW", "Command", "TextMessages", "command_of", "is_bare"]
