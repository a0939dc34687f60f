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


ERROR_CALL = re.compile(
    r'(?:errors\.(?:conflict|forbidden|unauthenticated|invalid)|ApiError)\(\s*(?:\d+,\s*"[a-z_]+",\s*)?"([a-z_]+)"', re.S
)


def test_every_error_code_is_documented():
    documented = "".join((ROOT / "docs" / name).read_text() for name in ("errors.md", "hosted-page.md", "simulator.md"))
    raised = {
        code: path.relative_to(ROOT)
        for path in (ROOT / "src" / "roost").rglob("*.py")
        for code in ERROR_CALL.findall(path.read_text())
    }
    assert len(raised) > 20  # the pattern still finds the codes
    missing = {code: str(path) for code, path in raised.items() if f"`{code}`" not in documented}
    assert missing == {}, "document these codes in docs/errors.md"
