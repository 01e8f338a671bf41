"""The timeline file: rotation keeps it bounded, torn lines are skipped, and a state dir that
cannot be written is a problem line that goes away by itself, with nothing lost."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_timeline_recorder import T0, Harness, check, first_sight, queue

from tui.engine.timeline import Entry, Link, TimelineStore
from tui.engine.timeline.maker import Maker
from tui.engine.timeline.store import FILENAME, MAX_BYTES, ROTATED


def typical(make: Maker, n: int) -> Entry:
    """A mix of entries as a shift produces them (queue and check changes, alerts, actions)."""
    at = T0 + n
    kind = n % 4
    if kind == 0:
        text = f"emails warning (was ok): depth {1000 + n} >= 1000"
        return make(
            at, "queue", "emails", "warning", "queue.state", text, link=Link("queues", "emails")
        )
    if kind == 1:
        text = 'payments critical (was ok): status (503) == 2xx; json $.status ("down") == "ok"'
        return make(
            at,
            "check",
            "payments",
            "critical",
            "check.state",
            text,
            link=Link("health", "payments"),
        )
    if kind == 2:
        text = "PaymentsDown firing (critical): payments health check failing"
        return make(
            at,
            "alert",
            "PaymentsDown",
            "critical",
            "alert.firing",
            text,
            link=Link("alerts", "watchdeck/d2cdb1b84c9c9c4b"),
        )
    text = (
        "terminate pid 4242 (app · report-builder · 10.0.0.7): SELECT * FROM orders"
        " → terminated pid 4242"
    )
    return make(
        at,
        "action",
        "database main pid 4242",
        "info",
        "action.done",
        text,
        who="alice@web-1",
        link=Link("database", "main/4242/1749996400.0"),
    )


def test_rotation_keeps_two_files_and_the_newest_entries(tmp_path: Path):
    store = TimelineStore(tmp_path, max_bytes=20_000)
    make = Maker()
    written = []
    for n in range(400):
        entry = typical(make, n)
        assert store.append([entry]) == [entry]
        written.append(entry)
    sizes = {path.name: path.stat().st_size for path in tmp_path.glob("timeline*.jsonl")}
    assert set(sizes) == {FILENAME, ROTATED}, "two files, never a third"
    assert all(size <= 20_000 for size in sizes.values())
    kept = store.read()
    assert written[-len(kept) :] == kept, "the newest entries, oldest first, none missing"
    assert 20_000 / 300 < len(kept) < 40_000 / 150
    assert store.read(since=T0 + 390) == written[390:]
    assert store.read(since=T0 + 390, until=T0 + 392) == written[390:393]


def test_entries_per_megabyte(tmp_path: Path):
    """What the 4 MiB bound holds: printed for the README (pytest -s)."""
    store = TimelineStore(tmp_path)
    make = Maker()
    store.append([typical(make, n) for n in range(2000)])
    per_mb = 2000 / (store.path.stat().st_size / 2**20)
    print(f"\n{per_mb:.0f} entries per MiB; {per_mb * MAX_BYTES / 2**20:.0f} per file")
    assert 3000 < per_mb < 8000


def test_a_torn_line_and_foreign_lines_are_skipped(tmp_path: Path):
    store = TimelineStore(tmp_path)
    make = Maker()
    first, second = typical(make, 0), typical(make, 1)
    store.append([first])
    with store.path.open("a") as handle:
        handle.write(
            '{"id": "x", "at": "not a time"}\n["a list"]\n{"id":"1750000000.5-0001","at":17'
        )
    store.append([second])  # starts on a line of its own
    assert store.read() == [first, second]


# --- a state dir that cannot be written, then can -------------------------------------------
def _swap(state: Path) -> tuple[Callable[[], None], Callable[[], None]]:
    """Put a file where the state dir is (as root, chmod would not stop a write)."""
    away = state.with_name("state.away")

    def breaks() -> None:
        state.rename(away)
        state.write_text("not a directory")

    def mends() -> None:
        state.unlink()
        away.rename(state)

    return breaks, mends


@pytest.fixture
def read_only_mount() -> Iterator[Path]:
    """A tmpfs of its own as the state dir, to remount read-only and back, as a disk goes."""
    root = Path(tempfile.mkdtemp(prefix="wd-tl-"))
    state = root / "state"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(state)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _remount(state: Path, mode: str) -> Callable[[], None]:
    def remount() -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(state)], check=True)

    return remount


@pytest.mark.parametrize("how", ["replaced by a file", "read-only mount"])
def test_an_unwritable_state_dir_is_a_problem_then_recovers(
    tmp_path: Path, how: str, request: pytest.FixtureRequest
):
    if how == "read-only mount":
        state = request.getfixturevalue("read_only_mount")
        breaks, mends = _remount(state, "ro"), _remount(state, "rw")
    else:
        state = tmp_path / "state"
        state.mkdir()
        breaks, mends = _swap(state)
    h = Harness(state)
    first_sight(h)
    breaks()
    h.tick(5)
    h.feed("check:api", check(h.clock, False, ("status (500) == 200",)))
    h.feed("queue:emails", queue(h.clock, 9))
    h.engine.evaluate_rules()
    problems = h.engine.state_problems()
    (line,) = [problem for problem in problems if "timeline" in problem]
    assert line.startswith(f"cannot write the timeline {state / FILENAME}: ")
    assert line.endswith("; 3 entries held back"), line  # api, emails, EmailBacklog pending
    assert any("timeline" in problem for problem in h.problems[-1]), "told as StateProblems"
    assert h.told == [], "told only once written"
    assert [e.event for e in h.entries()] == ["check.state", "queue.state", "alert.pending"]

    mends()
    h.tick(5)
    h.engine.evaluate_rules()  # the next turn of the rules writes what was held back
    assert not [problem for problem in h.engine.state_problems() if "timeline" in problem]
    assert h.problems[-1] == (), "told that it works again"
    on_disk = TimelineStore(state).read()
    assert [e.text for e in on_disk] == [
        "api critical (was ok): status (500) == 200",
        "emails warning (was ok): depth 9 >= 5",
        "EmailBacklog pending (warning): emails backlog at 9 jobs",
    ]
    assert h.told == on_disk
    assert [e.at - T0 for e in on_disk] == [5, 5, 5], "with the time they happened"
