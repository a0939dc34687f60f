"""The platform-run popup flow and recovery (SPEC 5.3)."""
