"""The customer's business token, sealed with the keyring: on the session between the code
exchange and the profile's creation, then on the profile. Each ciphertext is bound to its
owner, so a token copied onto another row does not open."""

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


def _session_context(session: SignupSession) -> str:
    return f"business_token:{session.organization_id}:{session.id}"
