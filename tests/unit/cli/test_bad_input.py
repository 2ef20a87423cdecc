"""Every command given nonsense: exit 2, exactly one line on stderr, never a traceback."""

import pytest

from secumail.cli import build_parser


def leaf_commands():
    """Every runnable command path, e.g. ('user', 'add'), found from the parser itself."""
    paths = []

    def walk(parser, prefix):
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            paths.append(tuple(prefix))
            return
        for name, child in subs[0].choices.items():
            walk(child, [*prefix, name])

    walk(build_parser(), [])
    return paths


LEAVES = leaf_commands()


def test_there_are_many_commands():
    assert len(LEAVES) >= 40


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: " ".join(p))
def test_unknown_flag_is_one_line_exit_2(cli, confdir, path):
    result = cli(*path, "--no-such-flag")
    assert result.code == 2, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    assert "--no-such-flag" in result.err or "required" in result.err


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: " ".join(p))
def test_too_many_arguments_is_one_line_exit_2(cli, confdir, path):
    result = cli(*path, "a", "b", "c", "d", "e", "f")
    if path in {("config", "set"), ("alias", "add")}:  # these take any number of values
        assert result.code in (1, 2)
    else:
        assert result.code == 2, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result.err


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["user"],
        ["logs", "many"],
        ["logs", "-5"],
        ["config", "get", "nonsense"],
        ["config", "get", "mailserver.bad-name.x"],
        ["config", "show", "mailserver.nosuch"],
        ["mesh", "sync"],
        ["--confdir"],
    ],
)
def test_nonsense_is_one_line_exit_2(cli, confdir, args):
    result = cli(*args)
    assert result.code == 2, result
    assert result.err.count("\n") == 1 and "Traceback" not in result.err, result.err


def test_subprocess_never_shows_a_traceback(subprocess_cli):
    for args in (["frobnicate"], ["config", "set", "mailserver.main.domain", "a b"], ["status", "--x"]):
        result = subprocess_cli(*args)
        assert result.code == 2
        assert "Traceback" not in result.err and result.err.count("\n") == 1, result.err
