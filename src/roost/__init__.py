"""Roost: self-hostable WhatsApp Embedded Signup onboarding."""

__version__ = "0.1.0"
