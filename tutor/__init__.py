"""smtp-tutor: a real mail world on loopback, traced step by step for learning how email moves."""

__version__ = "0.1.0"
