"""Outbound webhooks (SPEC 7.1): endpoints API, transactional outbox, signer, dispatcher."""
