"""Fixtures for the agent-framework integrations: a real gateway (real sshd behind it) and settings for it."""

from __future__ import annotations

import pytest

from bastion.integrations.connection import GatewaySettings

# A small policy in the shape of the shipped one: a deny rule, a review rule, opaque held for review.
POLICY = """\
default: allow
opaque: review
rules:
  - id: no-rm-system
    action: deny
    reason: recursive or forced deletion of a system path
    when:
      program: rm
      flags_any: ["-r|-R|--recursive", "-f|--force"]
      paths: ["/", "/etc/**", "/var/**", "/usr/**"]
  - id: pkg-install
    action: review
    reason: package installs need a human
    when:
      program: [apt-get, apt]
      args_regex: '^install$'
"""


@pytest.fixture
def gw(make_gateway):
    return make_gateway(policy=POLICY, users={"agent": {"groups": ["agents"]}})


@pytest.fixture
def settings(gw) -> GatewaySettings:
    return GatewaySettings(user="agent", target="web-1", host="127.0.0.1", port=gw.port,
                           key_path=gw.keys["agent"], known_hosts=gw.known_hosts, connect_timeout=10)
