"""Passwords out of what watchdeck shows and writes: ``redact``."""

from __future__ import annotations

import pytest

from tui.engine.errors import describe, redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        # redis-py and libpq take everything up to the last @ of the authority as the password
        ("redis://:pa@ss@cache:6379/0", "redis://:***@cache:6379/0"),
        ("http://watchdeck:p@ssw0rd@127.0.0.1:15672", "http://watchdeck:***@127.0.0.1:15672"),
        ("postgresql://u:pw@h/db?x=a@b", "postgresql://u:***@h/db?x=a@b"),
        ("cannot reach redis://:a@b@h:1/0 (refused)", "cannot reach redis://:***@h:1/0 (refused)"),
        ("host=db password=s3cret dbname=app", "host=db password=*** dbname=app"),
        ("ALTER ROLE app PASSWORD 'x@y'", "ALTER ROLE app PASSWORD '***'"),
    ],
)
def test_passwords_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_failure_is_described_in_printable_text() -> None:
    """A server's error message may quote what it was sent: ESC ] 52 would reach the screen."""
    failure = RuntimeError('invalid input "\x1b]52;c;ZWNobw==\x07"\nDETAIL: more')
    assert describe(failure) == 'invalid input "␛]52;c;ZWNobw==␇"'
