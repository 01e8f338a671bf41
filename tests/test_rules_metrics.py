"""A health endpoint's JSON values as rule metrics (``metrics:`` on an http check), against the
real test server's ``/json/nested`` (``{"system": {"memory": {"used_pct": 42.5}, "disk":
{"free_ratio": 0.04}}, "ready": true, "version": "1.4.2", ...}``)."""

from __future__ import annotations

from tui.engine.engine import Engine
from tui.engine.loader import load_config_text


def _config(url: str, rule: str) -> str:
    return f"""
checks:
  - name: api
    url: "{url}"
    metrics:
      memory_used_pct: $.system.memory.used_pct
      disk_free: $.system.disk.free_ratio
      ready: $.ready
      version: $.version
      first_id: $.items[0].id
      spaced: $["odd key"]
      missing: $.system.cpu
alerts:
  rules:
    - {rule}
"""


async def test_json_values_become_check_metrics_and_fire_rules(http_server):
    rule = "{name: DiskLow, when: check.api.disk_free < 5%, summary: 'disk free {{ value }}'}"
    config = load_config_text(_config(f"{http_server}/json/nested", rule), "t.yaml", {})
    engine = Engine(config)
    (alert,) = await engine.check_once()
    await engine.stop()
    assert (alert.name, alert.state, alert.summary) == ("DiskLow", "firing", "disk free 0.04")
    metric = engine.state.metric
    assert metric("check.api.memory_used_pct") == 42.5
    assert metric("check.api.disk_free") == 0.04
    assert metric("check.api.ready") == 1.0
    assert metric("check.api.first_id") == 7.0
    for absent in ("version", "spaced", "missing"):  # text, or not there: no data, never 0
        assert metric(f"check.api.{absent}") is None
    assert engine.state.history_of("check.api.memory_used_pct") == [42.5]


async def test_a_down_check_has_no_json_metrics_and_on_no_data_decides(http_server, refused_url):
    rule = "{name: MemHigh, when: check.api.memory_used_pct > 40, on_no_data: ok}"
    config = load_config_text(_config(f"{refused_url}/json/nested", rule), "t.yaml", {})
    engine = Engine(config)
    assert await engine.check_once() == ()
    assert engine.state.metric("check.api.memory_used_pct") is None
    await engine.stop()

    rule = "{name: MemHigh, when: check.api.memory_used_pct > 40, on_no_data: alert}"
    config = load_config_text(_config(f"{http_server}/json/invalid", rule), "t.yaml", {})
    engine = Engine(config)
    (alert,) = await engine.check_once()
    assert (alert.state, alert.value) == ("firing", None)
    await engine.stop()
