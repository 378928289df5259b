"""bastion: an SSH gateway that decides on, masks and records every command an AI agent runs."""

__version__ = "0.1.0"
