"""The Meta app that test mode uses, derived from the organization id and the deployment's key.

Both Roost's core (to configure test mode) and the simulator (to check credentials) compute
the same values from `Keyring.derive`, so they agree without sharing a table or a call, and
every organization gets its own simulated app (faults injected by one never reach another).
"""

import base64
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag

from roost.kit.crypto import Keyring

SIMULATED_GRAPH_VERSION = "v25.0"


def _digits(keyring: Keyring, label: str, length: int = 15) -> str:
    number = int.from_bytes(keyring.derive(label)[:8], "big")
    return str(10 ** (length - 1) + number % (9 * 10 ** (length - 1)))


def _text(keyring: Keyring, label: str, length: int) -> str:
    return base64.b32encode(keyring.derive(label)).decode().rstrip("=").lower()[:length]


@dataclass(frozen=True)
class SimulatedApp:
    app_id: str
    app_secret: str
    config_id: str
    system_user_token: str
    verify_token: str
    partner_business_id: str
    credit_line_id: str


def simulated_app_id(keyring: Keyring, organization_id: str) -> str:
    return _digits(keyring, f"sim:app:{organization_id}")


def simulated_app(keyring: Keyring, app_id: str) -> SimulatedApp:
    """Everything about the simulated app `app_id`; any app id is valid in the simulator."""
    return SimulatedApp(
        app_id=app_id,
        app_secret=_text(keyring, f"sim:secret:{app_id}", 32),
        config_id=_digits(keyring, f"sim:config:{app_id}"),
        system_user_token="EAAS" + _text(keyring, f"sim:system-user:{app_id}", 48),
        verify_token=_text(keyring, f"sim:verify:{app_id}", 24),
        partner_business_id=_digits(keyring, f"sim:partner-business:{app_id}", 16),
        credit_line_id=_digits(keyring, f"sim:credit-line:{app_id}", 16),
    )


def simulated_app_for(keyring: Keyring, organization_id: str) -> SimulatedApp:
    return simulated_app(keyring, simulated_app_id(keyring, organization_id))


# The simulator's control API takes a test admin key; Roost's own calls made for a caller that
# has none (the console's "simulate an outcome") carry this instead: the organization id, sealed
# with the deployment's key, good for CONTROL_GRANT_MS.
CONTROL_SCHEME = "RoostControl"
CONTROL_GRANT_MS = 60_000
_CONTROL_CONTEXT = "simulator-control"


def control_authorization(keyring: Keyring, organization_id: str, now: int) -> str:
    return f"{CONTROL_SCHEME} {keyring.encrypt(f'{organization_id} {now + CONTROL_GRANT_MS}', _CONTROL_CONTEXT)}"


def control_organization(keyring: Keyring, authorization: str | None, now: int) -> str | None:
    """The organization of a control grant that is genuine and current, else None."""
    scheme, _, sealed = (authorization or "").partition(" ")
    if scheme != CONTROL_SCHEME:
        return None
    try:
        organization_id, until = keyring.decrypt(sealed.strip(), _CONTROL_CONTEXT).split(" ")
        return organization_id if int(until) > now else None
    except (ValueError, TypeError, InvalidTag):  # not sealed by this deployment's key, or altered
        return None
