"""Runbook discovery: any Markdown file is a runbook; title, name and step count."""

from __future__ import annotations

from pathlib import Path

from tui.engine.runbooks.catalog import discover, summarize

GUIDE = """---
variables: {queue: {default: emails}}
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


def test_discover_walks_directories_dedupes_and_sorts(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.md").write_text("# Zebra\n")
    (tmp_path / "sub" / "a.md").write_text("# alpha\n")
    (tmp_path / "notes.txt").write_text("# not markdown\n")
    (tmp_path / "untitled.md").write_text("no heading here\n")
    entries = discover([tmp_path, tmp_path / "b.md", tmp_path / "missing"])
    assert [entry.title for entry in entries] == ["alpha", "untitled", "Zebra"]


def test_bundled_runbooks_have_titles_and_steps():
    bundled = Path(__file__).resolve().parent.parent / "config" / "runbooks"
    entries = discover([bundled])
    assert entries, "config/runbooks ships sample runbooks"
    for entry in entries:
        assert entry.title != entry.name
        assert entry.steps > 0
