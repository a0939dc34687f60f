"""Meta's webhooks to Roost over HTTP (SPEC 7.2); the rules are in meta/inbound.py."""
