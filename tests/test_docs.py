"""The docs that are derived from the code stay in step with it."""

import re
import runpy
from pathlib import Path

from roost.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_api_reference_matches_the_openapi_document():
    generator = runpy.run_path(str(ROOT / "scripts" / "api_reference.py"))
    expected = generator["render"](generator["openapi_document"]())
    assert (ROOT / "docs" / "reference.md").read_text() == expected, "run: python scripts/api_reference.py"


def test_every_setting_is_documented():
    documented = set(re.findall(r"`(ROOST_[A-Z0-9_]+)`", (ROOT / "docs" / "configuration.md").read_text()))
    settings = {f"ROOST_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "document these in docs/configuration.md"
    assert documented - settings == set(), "docs/configuration.md names settings that do not exist"
