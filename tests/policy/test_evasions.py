"""Commands the shipped policy must deny or hold although a program runs them for us: options whose value is
a command, code languages, environment variables. Each case names what the program would really run."""

from __future__ import annotations

import pytest

from bastion.policy.evaluate import PolicySet

RM_ROOT = "recursive or forced deletion of a system path"


def decide(policy: PolicySet, command: str):
    return policy.evaluate(command, user="agent-7", groups=["agents"], target="web-1")


def assert_denied_as_rm_root(policy: PolicySet, command: str) -> None:
    d = decide(policy, command)
    assert (d.action, d.reason) == ("deny", RM_ROOT), (command, d)
    assert "deny-rm-system-paths" in d.rules


@pytest.mark.parametrize("command", [
    "tar -xf x.tar --to-com='rm -rf /'",                     # getopt_long abbreviations
    "tar -xf x.tar --use-compress-prog='rm -rf /'",
    "tar -cf x.tar y --checkpoint-act=exec='rm -rf /'",
    "tar -cf x.tar y --checkpoint-action exec='rm -rf /'",   # the value as the next word
    "tar -xI 'rm -rf /' -f x.tar",                           # -I inside a cluster
    "tar -xI'rm -rf /' -f x.tar",
    "tar xIf 'rm -rf /' x.tar",                              # old style: value letters take words in turn
    "tar xfI x.tar 'rm -rf /'",
    "tar cfF x.tar 'rm -rf /' y",
    "tar -f host:/x.tar --rsh-command='rm -rf /' -x",
    "rsync --rs='rm -rf /' a host:b",
])
def test_tar_and_rsync_command_options_in_every_spelling(shipped: PolicySet, command: str) -> None:
    assert_denied_as_rm_root(shipped, command)


def test_abbreviated_tar_command_options_are_held_like_full_ones(shipped: PolicySet) -> None:
    for command in ("tar -xf x.tar --to-com=id", "tar -cf x y --checkpoint-act=exec=id"):
        d = decide(shipped, command)
        assert (d.action, d.rules) == ("review", ("review-risky-inline-code",)), command


@pytest.mark.parametrize("command", [
    "tar -tf x.tar", "tar xf x.tar", "tar -xzf x.tgz -C /tmp/out", "tar -I zstd -xf x.tar.zst",
    "tar --format=posix -cf x.tar .", "tar --totals -cf x.tar src",
])
def test_plain_tar_stays_allowed(shipped: PolicySet, command: str) -> None:
    assert decide(shipped, command).action == "allow", command
