"""watchdeck: an on-call console in the terminal."""

__version__ = "0.1.0"
