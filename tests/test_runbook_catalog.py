"""Runbook discovery: any Markdown file is a runbook; title, name, step count, alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.engine.runbooks.catalog import attached_alerts, discover, find, summarize

GUIDE = """---
variables: {queue: {default: emails}}
alerts: [EmailBacklog]
---
Intro text before the title.

# Queue backlog

- [ ] Check the dashboard
- [x] Page the owning team

```bash
redis-cli llen "$queue"
```

```python
print("shown, not run")
```

```sql
SELECT 1;
```

~~~
# not a heading, inside a fence
- [ ] not a step either
~~~
"""


def test_title_steps_and_front_matter(tmp_path: Path):
    path = tmp_path / "queue-backlog.md"
    path.write_text(GUIDE)
    entry = summarize(path)
    assert entry.name == "queue-backlog"
    assert entry.title == "Queue backlog"
    assert entry.steps == 4  # two checklist items, bash and sql; python is shown only
    assert entry.alerts == ("EmailBacklog",)
    assert entry.error is None


def test_discover_walks_directories_dedupes_and_sorts(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.md").write_text("# Zebra\n")
    (tmp_path / "sub" / "a.md").write_text("# alpha\n")
    (tmp_path / "notes.txt").write_text("# not markdown\n")
    (tmp_path / "untitled.md").write_text("no heading here\n")
    entries = discover([tmp_path, tmp_path / "b.md", tmp_path / "missing"])
    assert [entry.title for entry in entries] == ["alpha", "untitled", "Zebra"]


def test_a_broken_runbook_is_listed_with_its_error(tmp_path: Path):
    (tmp_path / "broken.md").write_text("# Broken\n\n```sh {dangr}\nls\n```\n")
    (entry,) = discover([tmp_path])
    assert entry.steps == 0
    assert (
        entry.error == f"{tmp_path / 'broken.md'}:3: ```sh {{...}}: unknown attribute dangr "
        "(did you mean danger?); known: capture, check, confirm, danger, db, interactive, name, "
        "timeout"
    )


def test_bundled_runbooks_have_titles_and_steps():
    bundled = Path(__file__).resolve().parent.parent / "config" / "runbooks"
    entries = discover([bundled])
    assert len(entries) >= 10, "config/runbooks ships sample runbooks"
    for entry in entries:
        assert entry.error is None
        assert entry.title != entry.name
        assert entry.steps > 0
    names = {entry.name for entry in entries}
    # alert rules in config/demo.yaml name these stems
    assert {"queue-backlog", "long-running-queries", "payments-down", "certificate-expiry"} <= names


def test_find_by_path_name_or_title(tmp_path: Path):
    (tmp_path / "a.md").write_text("# Drain a node\n")
    entries = discover([tmp_path])
    assert find("a", entries) == tmp_path / "a.md"
    assert find("drain a node", entries) == tmp_path / "a.md"
    assert find(str(tmp_path / "a.md"), []) == tmp_path / "a.md"
    assert find("a.md", [], cwd=tmp_path) == tmp_path / "a.md"
    with pytest.raises(LookupError, match=r"no runbook 'b' .*one of: a"):
        find("b", entries)


class Named:
    def __init__(self, name: str, runbook: str | None) -> None:
        self.name = name
        self.runbook = runbook


def test_attached_alerts_merge_front_matter_rules_and_live_alerts(tmp_path: Path):
    path = tmp_path / "queue-backlog.md"
    path.write_text(GUIDE)
    entry = summarize(path)
    rules = [Named("EmailBacklog", "queue-backlog"), Named("Other", "x"), Named("Deep", None)]
    alerts = [Named("QueueStuck", "queue-backlog")]
    assert attached_alerts(entry, rules, alerts) == ["EmailBacklog", "QueueStuck"]


async def test_engine_hooks_for_the_viewer(tmp_path: Path):
    from tui.engine.engine import Engine
    from tui.engine.loader import load_config_text

    (tmp_path / "rb").mkdir()
    (tmp_path / "rb" / "queue-backlog.md").write_text(GUIDE)
    config = load_config_text(
        "checks: [{name: api, url: 'http://127.0.0.1:9/'}]\n"
        "alerts: {rules: [{name: ApiDown, when: check.api.up < 1, runbook: queue-backlog}]}\n"
        "runbooks: {paths: [rb]}\n",
        "t.yaml",
    )
    engine = Engine(config, base_dir=tmp_path, state_dir=tmp_path / "state", read_only=True)
    (entry,) = engine.runbooks
    assert engine.runbook_alerts(entry) == ["ApiDown", "EmailBacklog"]
    executor = engine.runbook_executor()
    assert executor.actions is engine.actions and executor.actions.read_only
    assert executor.state_dir == tmp_path / "state"
    await executor.aclose()
    await engine.stop()
