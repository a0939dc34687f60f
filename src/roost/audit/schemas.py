"""What the audit log API returns: the entry, documented and rendered by one model (kit.objects)."""

from typing import Literal

from pydantic import Field

from roost.kit.objects import ApiObject, Timestamp, list_of


class AuditLogEntryObject(ApiObject):
    id: str = Field(examples=["aud_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["audit_log_entry"] = "audit_log_entry"
    livemode: bool
    action: str = Field(examples=["business_profile.access_token.read"])
    admin_key_id: str | None = Field(description="The admin key that acted; null when a console user did")
    console_user_id: str | None = Field(description="The console user who acted; null when an admin key did")
    resource_type: str = Field(examples=["business_profile"])
    resource_id: str = Field(examples=["wabp_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    request_id: str | None
    ip_address: str | None = Field(description="The client's address as the server saw it")
    created_at: Timestamp


AuditLogEntryList = list_of(AuditLogEntryObject, "AuditLogEntryList")
