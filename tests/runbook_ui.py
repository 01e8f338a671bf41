"""Runbooks for the viewer's tests and snapshots, written into a temporary directory, and the
console on a real engine (never started) whose runs and journal go to that directory."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import OptionList
from ui_fixtures import clock

from tui.app import WatchdeckApp
from tui.engine.config import Check, Config, Runbooks
from tui.engine.engine import Engine

STEPS = """\
---
alerts: [DeployFailing]
---
# Deploy the API

- [ ] Announce the deploy in #ops

```sh {name="Say hello"}
echo "hello from the step"
```

```sh {name="Fails first"}
if [ -e retried ]; then echo "recovered"; else touch retried; echo "first try fails" >&2; exit 3; fi
```

```sh {name="Drop the cache", danger}
echo "cache dropped"
```

```sh {name="Wait a long time"}
echo "waiting"; sleep 30
```
"""

VALUES = """\
---
window: 30m
variables:
  TARGET: {type: choice, choices: [staging, production], required: true, description: where to}
  TOKEN: {secret: true, required: true, description: the deploy token}
  COUNT: {type: int, default: 3}
  NOTE: {description: free text for the log}
---
# Deploy with values

```sh {name="Show the values"}
echo "target=$TARGET count=$COUNT note=$NOTE"
```

```sh {name="Use the token"}
echo "token is $TOKEN"
```
"""

FLOOD = """\
# Print a lot

At least 10 MB in lines of 100 bytes, and more until a file named stop appears.

```sh {name="Print a lot", timeout=2m}
line=$(printf '%099d' 0 | tr 0 x)
i=0
while [ $i -lt 100 ] || [ ! -e stop ]; do yes "$line" | head -n 1000; i=$((i+1)); done
```
"""

INTERACTIVE = """\
# Look around

```sh {name="A shell on the box", interactive}
echo "a shell would start here"
```
"""

CHECKED = """\
# Restart the API

- [ ] The API answers {check=api}
"""

BROKEN = """\
---
variables:
  HOME: {default: /root}
---
# Broken on purpose
"""

WINDOW = """\
---
alerts: [EmailBacklog, QueueStalled]
window: 45m
variables:
  QUEUE: {type: choice, choices: [emails, webhooks], default: emails}
  TOKEN: {secret: true, required: true, description: the admin API token}
  LIMIT: {type: int, default: 500, description: jobs per batch}
---
# Drain a queue in a maintenance window

- [ ] Tell the incident channel

```sh {name="Pause the producers"}
echo "producers paused for $QUEUE"
```

```sh {name="Check the consumers"}
echo "2 of 3 consumers down" >&2; exit 1
```

```sh {name="Count the backlog", capture=DEPTH}
echo 1240
```

```sh {name="Drain in batches"}
echo "draining $QUEUE by $LIMIT"
echo "batch 1 of 3 done"
sleep 30
```

```sh {name="Purge the dead letters", danger}
echo "purged"
```

- [ ] Resume the producers
"""
"""The snapshots' runbook: a window, attached alerts, every kind of variable."""

RUNBOOKS = {
    "deploy": STEPS,
    "deploy-values": VALUES,
    "flood": FLOOD,
    "restart-api": CHECKED,
    "look-around": INTERACTIVE,
    "broken": BROKEN,
}


def write_runbooks(base: Path, runbooks: dict[str, str] | None = None) -> Path:
    directory = base / "runbooks"
    directory.mkdir(exist_ok=True)
    for name, text in (runbooks or RUNBOOKS).items():
        (directory / f"{name}.md").write_text(text, encoding="utf-8")
    return directory


def viewer_app(
    base: Path,
    *,
    read_only: bool = False,
    runbooks: dict[str, str] | None = None,
    checks: list[Check] | None = None,
) -> WatchdeckApp:
    """The console on runbooks under ``base/runbooks``, state under ``base/state``."""
    config = Config(
        checks=checks or [], runbooks=Runbooks(paths=[str(write_runbooks(base, runbooks))])
    )
    engine = Engine(
        config, base_dir=base, state_dir=base / "state", read_only=read_only, clock=clock
    )
    return WatchdeckApp(engine, clock=clock, start_engine=False)


async def until(
    pilot: Pilot[int], ready: Callable[[], object], what: str, tries: int = 600
) -> None:
    """Wait (boundedly) until ``ready()`` is true."""
    for _ in range(tries):
        if ready():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting: {what}")


async def highlight(pilot: Pilot[int], name: str) -> None:
    """Focus the Runbooks pane with ``name`` highlighted."""
    app = pilot.app
    assert isinstance(app, WatchdeckApp)
    await pilot.press("5")
    options = app.deck.runbooks.query_one(OptionList)
    options.highlighted = options.get_option_index(name)
    await pilot.pause()


def screen_text(app: WatchdeckApp) -> str:
    """Everything the terminal shows now, as text."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")
