"""mailctl's commands run the operations of the table: each command's options are its arguments."""

from __future__ import annotations

import argparse

from secumail.appliance.operations import OPERATIONS
from secumail.cli import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))
    yield prefix, parser


def test_each_operation_command_offers_the_operations_arguments():
    seen = set()
    for words, parser in _commands(build_parser()):
        op_name = parser.get_default("operation")
        if op_name is None:
            continue
        op = OPERATIONS[op_name]
        seen.add(op_name)
        dests = {action.dest for action in parser._actions}
        # secrets come from a prompt or stdin, never from an option
        plain = {name for name, arg in op.args.items() if not arg.secret}
        assert plain <= dests, (words, plain - dests)
        assert not {name for name, arg in op.args.items() if arg.secret} & dests, words
    without_command = {name for name, op in OPERATIONS.items() if op.name not in seen}
    # only jobs of secumaild's own have no mailctl command of their own
    assert without_command == {"configure", "ssl-renew"}


def test_operation_functions_exist():
    import importlib
    import inspect

    for op in OPERATIONS.values():
        module, _, attr = op.function.partition(":")
        function = getattr(importlib.import_module(f"secumail.appliance.{module}"), attr)
        params = list(inspect.signature(function).parameters)[1:]  # keyword-only ones too
        assert params == list(op.args), op.name
