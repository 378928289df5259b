"""`python -m bastion` is `bastion`."""

from bastion.cli import main

main()
