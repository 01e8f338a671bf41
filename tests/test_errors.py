"""Passwords out of what watchdeck shows and writes: ``redact``."""

from __future__ import annotations

import pytest

from tui.engine.errors import describe, mask_secrets, redact


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
        ("PGPASSWORD=s3cret psql -h db", "PGPASSWORD=*** psql -h db"),
        ("DB_PASSWORD=s3cret", "DB_PASSWORD=***"),
        ("host=db sslpassword=s3cret dbname=app", "host=db sslpassword=*** dbname=app"),
        ('password="s3 cret" host=db', "password=*** host=db"),
        ("password_hash=abc", "password_hash=abc"),
    ],
)
def test_passwords_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://gl/api?private_token=t1&page=2", "https://gl/api?private_token=***&page=2"),
        ("?client_secret=t1&auth_token=t2", "?client_secret=***&auth_token=***"),
        ("refresh_token=t1 id_token=t2 apikey2=t3", "refresh_token=*** id_token=*** apikey2=***"),
        ("access-token=t1 apiKey=t2 key=t3", "access-token=*** apiKey=*** key=***"),
        ("?X-Amz-Credential=A1&X-Amz-Signature=s1", "?X-Amz-Credential=***&X-Amz-Signature=***"),
        ('{"password": "p w", "user": "app"}', '{"password": "***", "user": "app"}'),
        ("password: s3cret\nuser: app", "password: ***\nuser: app"),
        ("Authorization: Bearer eyJh.x.y", "Authorization: Bearer ***"),
        ("Authorization: Basic YWRtaW46aHVudGVyMg==", "Authorization: Basic ***"),
        ("X-Api-Key: k1, X-Auth-Token: k2", "X-Api-Key: ***, X-Auth-Token: ***"),
        ("Set-Cookie: session=c1; HttpOnly", "Set-Cookie: ***; HttpOnly"),
        ("monkey=banana keys: 3 tokens=5", "monkey=banana keys: 3 tokens=5"),
    ],
)
def test_tokens_keys_and_credential_headers_are_masked(text: str, shown: str) -> None:
    assert mask_secrets(text) == shown


def test_a_failure_is_described_in_printable_text() -> None:
    """A server's error message may quote what it was sent: ESC ] 52 would reach the screen."""
    failure = RuntimeError('invalid input "\x1b]52;c;ZWNobw==\x07"\nDETAIL: more')
    assert describe(failure) == 'invalid input "␛]52;c;ZWNobw==␇"'
