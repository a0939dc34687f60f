"""Python client for the Roost API.

    from roost_client import Roost
    client = Roost("sk_admin_test_…", base_url="http://127.0.0.1:8000")
"""

from roost_client import redirects, webhooks
from roost_client._client import AsyncRoost, Roost
from roost_client._core import NOT_GIVEN
from roost_client._version import VERSION
from roost_client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    RoostError,
)
from roost_client.models import (
    AccessToken,
    AdminKey,
    AuditLogEntry,
    BusinessProfile,
    DeletedObject,
    EmbeddedSignupSession,
    Event,
    EventResend,
    EndpointTest,
    Funnel,
    Health,
    OrganizationSettings,
    PhoneNumber,
    RecoveredAttempt,
    RecoveryAttempt,
    ResponseInfo,
    RoostObject,
    SessionEvent,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from roost_client.pagination import AsyncPager, Page, Pager
from roost_client.redirects import RedirectVerificationError
from roost_client.webhooks import WebhookVerificationError

__version__ = VERSION

__all__ = [
    "APIConnectionError", "APIError", "APITimeoutError", "AccessToken", "AdminKey", "AuditLogEntry", "DeletedObject",
    "EventResend", "EndpointTest", "RecoveredAttempt", "WebhookDeliveryAttempt", "AsyncPager", "AsyncRoost",
    "AuthenticationError", "BusinessProfile", "ConflictError", "EmbeddedSignupSession", "Event", "ForbiddenError",
    "Funnel", "Health", "InvalidRequestError", "NOT_GIVEN", "NotFoundError", "OrganizationSettings", "Page", "Pager",
    "PermissionDeniedError", "PhoneNumber", "ProviderError", "RateLimitError", "RecoveryAttempt",
    "RedirectVerificationError", "ResponseInfo", "Roost", "RoostError", "RoostObject", "SessionEvent",
    "WebhookDelivery", "WebhookEndpoint", "WebhookVerificationError", "redirects", "webhooks",
]
