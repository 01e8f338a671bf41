"""The configs shown in README.md are valid: documentation that users copy must not rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui.engine.loader import load_config_text

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_config_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{n}" for n in range(len(BLOCKS))])
def test_readme_config_example_loads(block: str):
    env = {"DATABASE_URL": "postgresql://localhost/app", "REPLICA_URL": "postgresql://replica/app"}
    load_config_text(block, "README.md", env)
