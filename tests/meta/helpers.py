"""Moved to tests/support/signups.py (shared by the Meta, profiles, recovery and webhooks tests);
re-exported here so that `from tests.meta.helpers import …` keeps working."""

from tests.support.signups import *  # noqa: F401,F403
from tests.support.signups import _write_certificates  # noqa: F401
