"""bastion-tui: the Textual console for on-call reviewers.

It talks to the gateway only through the `bastion-review` protocol (docs/review-protocol.md) over SSH and
imports nothing from the gateway; from `bastion` it uses only pure modules (the asciicast codec, the clock,
the error tree).
"""
