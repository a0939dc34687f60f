"""The customer's secrets from Meta, sealed with the keyring: Meta's code while it is being
exchanged, the business token on the session between the exchange and the profile's creation,
then on the profile. Each ciphertext is bound to its owner, so one copied onto another row does
not open."""

import json

from roost.kit.crypto import Keyring
from roost.sessions.models import SignupSession


def seal_session_token(keyring: Keyring, session: SignupSession, token: str) -> str:
    return keyring.encrypt(token, _session_context(session))


def open_session_token(keyring: Keyring, session: SignupSession) -> str:
    return keyring.decrypt(session.business_token_encrypted, _session_context(session))


def seal_profile_token(keyring: Keyring, organization_id: str, profile_id: str, token: str) -> str:
    return keyring.encrypt(token, f"profile_token:{organization_id}:{profile_id}")


def open_profile_token(keyring: Keyring, organization_id: str, profile_id: str, ciphertext: str) -> str:
    return keyring.decrypt(ciphertext, f"profile_token:{organization_id}:{profile_id}")


def seal_code(keyring: Keyring, session: SignupSession, code: str, redirect_uri: str | None) -> str:
    return keyring.encrypt(json.dumps({"code": code, "redirect_uri": redirect_uri}), f"meta_code:{session.organization_id}:{session.id}")


def open_code(keyring: Keyring, session: SignupSession) -> tuple[str, str | None]:
    sealed = json.loads(keyring.decrypt(session.code_encrypted, f"meta_code:{session.organization_id}:{session.id}"))
    return sealed["code"], sealed["redirect_uri"]


def _session_context(session: SignupSession) -> str:
    return f"business_token:{session.organization_id}:{session.id}"
