"""bastion: an SSH gateway that decides on, masks and records every command an AI agent runs."""

import warnings

# asyncssh 2.24 still names cryptography's DSA classes at import, and cryptography 47+ warns about each:
# ten lines of noise on stderr before every `bastion` command's own output. DSA keys stay refused anyway.
warnings.filterwarnings("ignore", message="DSA is deprecated", module="asyncssh")

__version__ = "0.1.0"
