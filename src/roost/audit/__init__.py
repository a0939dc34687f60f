"""The audit log: who did what to which object, and when (SPEC 5.4 token custody)."""
