"""SQL queues on a real PostgreSQL (pgserver): a jobs table as Postgres-backed queues keep it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from tui.engine.config import Config, Database, Queue, Settings
from tui.engine.engine import Engine
from tui.engine.report import build_report
from tui.engine.sources.queue_shared import QueueSource
from tui.engine.sources.queue_sql import QueueQueryError, SqlBatch

SETTINGS = Settings(interval=5.0, timeout=3.0)
DEPTH_AND_AGE = """
SELECT count(*) FILTER (WHERE state = 'ready' AND run_at <= now()) AS depth,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'ready' AND run_at > now()) AS delayed,
       now() - min(run_at) FILTER (WHERE state = 'ready' AND run_at <= now()) AS oldest_age_s
FROM wd_queue_jobs WHERE queue = 'emails'
"""


@pytest.fixture
def jobs(pg_dsn: str) -> Iterator[None]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS wd_queue_jobs")
        conn.execute(
            "CREATE TABLE wd_queue_jobs (id bigserial PRIMARY KEY, queue text, state text,"
            " run_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            """
            INSERT INTO wd_queue_jobs (queue, state, run_at) VALUES
              ('emails', 'ready', now() - interval '10 minutes'),
              ('emails', 'ready', now() - interval '1 minute'),
              ('emails', 'ready', now()),
              ('emails', 'active', now() - interval '20 minutes'),
              ('emails', 'failed', now() - interval '1 hour'),
              ('emails', 'ready', now() + interval '1 hour'),
              ('reports', 'ready', now() - interval '2 days')
            """
        )
    yield
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS wd_queue_jobs")


@pytest.fixture
async def batch(pg_dsn: str) -> AsyncIterator[SqlBatch]:
    batch = SqlBatch("main", pg_dsn, interval=5.0, timeout=3.0)
    yield batch
    await batch.aclose()


def member(batch: SqlBatch, name: str, sql: str) -> QueueSource:
    queue = Queue(name=name, kind="sql", database="main", sql=sql)
    batch.add(f"queue:{name}", queue)
    return QueueSource(queue, SETTINGS, batch.read)


async def test_depth_age_and_counts_from_a_query(jobs, batch):
    emails = member(batch, "emails", DEPTH_AND_AGE)
    sample = await emails.poll()
    assert (sample.depth, sample.active, sample.failed, sample.delayed) == (3, 1, 1, 1)
    assert sample.oldest_age_s is not None and 600 <= sample.oldest_age_s < 660
    assert sample.workers is None


async def test_a_failing_or_writing_query_fails_only_its_queue(jobs, batch):
    good = member(batch, "good", "SELECT count(*) AS depth FROM wd_queue_jobs")
    writer = member(
        batch, "writer", "INSERT INTO wd_queue_jobs (queue) VALUES ('x') RETURNING 1 AS depth"
    )
    typo = member(batch, "typo", "SELECT count(*) AS depth FROM no_such_table")
    assert (await good.poll()).depth == 7
    with pytest.raises(QueueQueryError, match="read-only transaction"):
        await writer.poll()
    with pytest.raises(QueueQueryError, match='relation "no_such_table" does not exist'):
        await typo.poll()
    assert (await good.poll()).depth == 7, "the connection survived both and nothing was written"


async def test_an_error_quoting_the_data_cannot_drive_the_terminal(batch):
    """PostgreSQL's errors quote the value at fault, which a table's row may hold."""
    source = member(batch, "q", "SELECT E'7\\x1b]52;c;cm0gLXJm\\x07'::int AS depth")
    with pytest.raises(QueueQueryError) as caught:
        await source.poll()
    assert 'invalid input syntax for type integer: "7\u241b]52;c;cm0gLXJm\u2407"' in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1 AS total", "no depth column (got total): name it AS depth"),
        ("SELECT 1 AS depth, 2 AS pending", "unknown column 'pending'"),
        ("SELECT 'many' AS depth", "depth is str, not a number: cast it in SQL"),
        ("SELECT 1 AS depth FROM generate_series(1, 3)", "returned several rows, not one"),
        ("SELECT 1 AS depth WHERE false", "returned no rows, not one"),
        ("SET search_path TO public", "returned no rows at all"),
    ],
)
async def test_queries_that_are_not_queue_queries(batch, sql, message):
    source = member(batch, "q", sql)
    with pytest.raises(QueueQueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await source.poll()


async def test_null_is_no_data_and_numbers_are_rounded(batch):
    source = member(batch, "q", "SELECT NULL::int AS depth, 2.6::numeric AS workers")
    sample = await source.poll()
    assert (sample.depth, sample.workers, sample.trend) == (None, 3, None)


async def test_a_statement_timeout_fails_the_query_not_the_connection(batch):
    slow = member(batch, "slow", "SELECT pg_sleep(5), 1 AS depth")
    fast = member(batch, "fast", "SELECT 2 AS depth")
    batch.timeout = 0.4
    with pytest.raises(QueueQueryError, match="statement timeout"):
        await slow.poll()
    assert (await fast.poll()).depth == 2


async def test_unreachable_database_fails_every_queue_without_the_password(refused_url):
    port = refused_url.rsplit(":", 1)[1]
    batch = SqlBatch("main", f"postgresql://u:pw-s3cret@127.0.0.1:{port}/x", interval=5, timeout=1)
    source = member(batch, "q", "SELECT 1 AS depth")
    with pytest.raises(QueueQueryError) as caught:
        await source.poll()
    assert str(caught.value).startswith("database main: ")
    assert "pw-s3cret" not in str(caught.value)
    await batch.aclose()


async def test_engine_runs_sql_queues_on_a_configured_database(jobs, pg_dsn):
    config = Config(
        settings=SETTINGS,
        databases=[Database(name="main", dsn=pg_dsn)],
        queues=[
            Queue(name="emails", kind="sql", database="main", sql=DEPTH_AND_AGE, warn_age=300.0),
            Queue(
                name="reports",
                kind="sql",
                database="main",
                sql="SELECT count(*) AS depth FROM wd_queue_jobs WHERE queue = 'reports'",
            ),
        ],
    )
    engine = Engine(config)
    try:
        await engine.check_once()
        report = build_report(list(engine.state.sources.values()), (), engine.clock())
    finally:
        await engine.stop()
    queues = {queue["name"]: queue for queue in report["queues"]}
    assert queues["emails"]["status"] == "warning"
    assert queues["emails"]["reasons"][0].startswith("oldest 10m")
    assert (queues["reports"]["depth"], queues["reports"]["status"]) == (1, "ok")
