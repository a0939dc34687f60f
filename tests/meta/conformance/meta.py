"""Meta's Graph API as the conformance suite expects it: the operations Roost calls, their
parameters and bodies, and the answers, as JSON Schemas written from Meta's published description
(shared/research/meta-openapi/business-messaging-api_v23.0.yaml, "the file" below, line numbers
given) and, for calls the file does not describe, from shared/research/meta-embedded-signup.md
("research §n"). Where Meta's guides say more than the file, the guides win; each such place is
marked GUIDES and recorded in docs/decisions.md.

Nothing here is imported from Roost or its simulator: this is the yardstick both are held to.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema_rs

ID = {"type": "string", "pattern": "^[0-9]+$"}
TEXT = {"type": "string", "minLength": 1}
SUCCESS = {"type": "object", "required": ["success"], "additionalProperties": False,
           "properties": {"success": {"const": True}}}  # SuccessResponse, file 3544

# -- the error envelope: GraphAPIError, file 353 ------------------------------------------------

ERROR = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code", "fbtrace_id"],
            "additionalProperties": False,
            "properties": {
                "message": TEXT,
                # The file's examples use both (GraphMethodException for objects that cannot be found, file 27478).
                "type": {"enum": ["OAuthException", "GraphMethodException"]},
                "code": {"type": "integer"},
                "error_subcode": {"type": "integer"},
                "fbtrace_id": TEXT,
                "is_transient": {"type": "boolean"},
                "error_user_title": {"type": "string"},
                "error_user_msg": {"type": "string"},
                # GUIDES: WhatsApp's error codes page adds error_data {messaging_product, details}.
                "error_data": {
                    "type": "object", "additionalProperties": False, "required": ["messaging_product", "details"],
                    "properties": {"messaging_product": {"const": "whatsapp"}, "details": TEXT},
                },
            },
        }
    },
}

# -- nodes: every field Meta answers on them, and what it answers by default ------------------------

PHONE_NUMBER_FIELDS: dict[str, Any] = {
    "id": ID,
    "display_phone_number": TEXT,
    "verified_name": TEXT,
    "quality_rating": {"enum": ["GREEN", "YELLOW", "RED", "NA", "UNKNOWN"]},  # file 3226 and 6168
    # GUIDES: NOT_VERIFIED (the file's phone_numbers example, 25748; its node says UNVERIFIED, 3247).
    "code_verification_status": {"enum": ["VERIFIED", "NOT_VERIFIED", "EXPIRED"]},
    # GUIDES: the phone number reference's statuses (CONNECTED to message); the file has LINKED etc., 6196.
    "status": {"enum": ["PENDING", "CONNECTED", "DISCONNECTED", "FLAGGED", "MIGRATED", "RATE_LIMITED",
                        "RESTRICTED", "BANNED", "DELETED", "UNVERIFIED", "UNKNOWN"]},
    "platform_type": {"enum": ["CLOUD_API", "ON_PREMISE", "NOT_APPLICABLE"]},  # GUIDES (file: host_platform, 6239)
    "is_on_biz_app": {"type": "boolean"},  # GUIDES: coexistence numbers
    "last_onboarded_time": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$"},
    "throughput": {"type": "object", "additionalProperties": False, "required": ["level"],
                   "properties": {"level": {"enum": ["STANDARD", "HIGH", "NOT_APPLICABLE"]}}},
    "webhook_configuration": {"type": "object", "additionalProperties": False,
                              "properties": {key: TEXT for key in ("application", "whatsapp_business_account", "phone_number")}},
    "name_status": {"enum": ["APPROVED", "AVAILABLE_WITHOUT_REVIEW", "DECLINED", "EXPIRED", "PENDING_REVIEW", "NONE"]},
    "account_mode": {"enum": ["LIVE", "SANDBOX"]},
    "is_pin_enabled": {"type": "boolean"},
    "is_official_business_account": {"type": "boolean"},
    # file 5650; GUIDES: TIER_2K, the limit Meta's phone_number_quality_update reference names since 2025.
    "messaging_limit_tier": {"enum": ["TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"]},
    # GUIDES: Meta's messaging limits page: the current field since limits are the portfolio's
    # (messaging_limit_tier deprecated); partners show TIER_2K etc. Not in the file.
    "whatsapp_business_manager_messaging_limit": {
        "enum": ["TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED", "TIER_NOT_SET"]},
}

# GUIDES: Meta's "Messaging and Calling Health Status" guide; not in the file. Each entity is
# AVAILABLE, LIMITED (with additional_info) or BLOCKED (with errors); the overall value is the worst.
HEALTH_LEVEL = {"enum": ["AVAILABLE", "LIMITED", "BLOCKED"]}
HEALTH_STATUS = {
    "type": "object", "additionalProperties": False, "required": ["can_send_message"],
    "properties": {
        "can_send_message": HEALTH_LEVEL,
        "entities": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["entity_type", "id", "can_send_message"],
            "properties": {
                "entity_type": {"enum": ["PHONE_NUMBER", "MESSAGE_TEMPLATE", "WABA", "BUSINESS", "APP"]},
                "id": ID,
                "can_send_message": HEALTH_LEVEL,
                "can_receive_call_sip": HEALTH_LEVEL,
                "additional_info": {"type": "array", "items": TEXT},
                "errors": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["error_code", "error_description"],
                    "properties": {"error_code": {"type": "integer"}, "error_description": TEXT, "possible_solution": TEXT}}},
            }}},
    },
}


class NotOnNode(ValueError):
    pass


@dataclass(frozen=True)
class Node:
    name: str
    fields: dict[str, Any]  # field -> schema; a Node for an edge read as a field
    default: tuple[str, ...]


# GET /{Phone-Number-ID}, file 15402: "only default fields (id, display_phone_number, verified_name,
# quality_rating)".
PHONE_NUMBER = Node("phone number", PHONE_NUMBER_FIELDS, ("id", "display_phone_number", "verified_name", "quality_rating"))
# GET /{WABA-ID}/phone_numbers, file 25613, names no defaults; GUIDES ("Get all phone numbers"): this list.
PHONE_NUMBER_IN_LIST = Node("listed phone number", PHONE_NUMBER_FIELDS, (
    "id", "display_phone_number", "verified_name", "code_verification_status", "quality_rating", "platform_type",
    "throughput", "last_onboarded_time", "webhook_configuration"))

WABA_FIELDS: dict[str, Any] = {
    "id": ID,
    "name": {"type": "string", "minLength": 1, "maxLength": 255},  # file 801
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},  # file 835
    "timezone_id": TEXT,
    "message_template_namespace": TEXT,
    "account_review_status": {"enum": ["APPROVED", "PENDING", "REJECTED", "RESTRICTED", "LIMIT_REACHED"]},  # file 862, 6969
    # GUIDES: the WABA's owner (research §4.5, §4.7); not in the file.
    "owner_business_info": {"type": "object", "additionalProperties": False, "required": ["id"],
                            "properties": {"id": ID, "name": TEXT}},
    "primary_funding_id": ID,  # GUIDES: research §4.7
    "health_status": HEALTH_STATUS,  # GUIDES: Meta's health status guide (account health's refresh)
    "phone_numbers": PHONE_NUMBER_IN_LIST,  # the file's WABA schema lists phone_numbers, 863
}
# GET /{WABA-ID}, file 29190: "default fields will be returned (id, name)".
WABA = Node("WhatsApp Business Account", WABA_FIELDS, ("id", "name"))


def paging_schema() -> dict[str, Any]:
    """CursorPaging, file 330: cursors before/after, next/previous URLs."""
    return {
        "type": "object", "additionalProperties": False, "required": ["cursors"],
        "properties": {
            "cursors": {"type": "object", "additionalProperties": False, "required": ["before", "after"],
                        "properties": {"before": TEXT, "after": TEXT}},
            "next": {"type": "string", "format": "uri"},
            "previous": {"type": "string", "format": "uri"},
        },
    }


def connection_schema(items: dict[str, Any]) -> dict[str, Any]:
    """A list edge (WhatsAppBusinessAccountPhoneNumbersConnection, file 6247): `data`, `paging`
    when there is any item."""
    return {"type": "object", "additionalProperties": False, "required": ["data"],
            "properties": {"data": {"type": "array", "items": items}, "paging": paging_schema()}}


# -- field selection, read independently of the simulator's own parser -----------------------------


def split_fields(text: str) -> list[tuple[str, str | None]]:
    """`a,b{c,d},e` -> [(a, None), (b, "c,d"), (e, None)] (a `.limit(n)` modifier is dropped)."""
    parts, depth, current = [], 0, ""
    for char in text + ",":
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += char == "{"
        depth -= char == "}"
        current += char
    result = []
    for part in filter(None, parts):
        name, _, inner = part.partition("{")
        result.append((re.sub(r"\.limit\(\d+\)$", "", name.strip()), inner[:-1] if inner else None))
    return result


def node_schema(node: Node, fields: str | None) -> dict[str, Any]:
    """The schema of the answer to a read of `node` with this `fields` parameter: exactly the
    requested fields (or the defaults) may appear, plus `id`, each as Meta describes it."""
    requested = split_fields(fields) if fields else [(name, None) for name in node.default]
    if fields and not any(name == "id" for name, _ in requested):
        requested.append(("id", None))
    properties = {}
    for name, inner in requested:
        if name not in node.fields:
            raise NotOnNode(f"field {name} is not a field of the {node.name}")
        described = node.fields[name]
        if isinstance(described, Node):
            described = connection_schema(node_schema(described, inner))
        elif inner is not None:  # a struct with a selection of its keys
            keys = [key for key, _ in split_fields(inner)]
            described = {**described, "properties": {key: described["properties"][key] for key in keys},
                         "required": [key for key in described.get("required", []) if key in keys]}
        properties[name] = described
    return {"type": "object", "additionalProperties": False, "required": ["id"], "properties": properties}


# -- the operations Roost calls ---------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # a regular expression over the path after the version
    source: str
    query: dict[str, Any] = field(default_factory=dict)  # parameter -> schema of its text
    required: frozenset[str] = frozenset()
    body: dict[str, Any] | None = None  # JSON body schema (None: the call sends no body)
    app_token: bool = False  # authenticated with the app token, not a user or business token
    authenticated: bool = True
    answer: Any = None  # schema, or callable(query) -> schema


OPERATIONS = [
    Operation(
        "exchange the code", "GET", r"oauth/access_token", "research §4.1",
        query={"client_id": ID, "client_secret": TEXT, "code": TEXT, "redirect_uri": {"type": "string", "pattern": "^https?://"}},
        required=frozenset({"client_id", "client_secret", "code"}), authenticated=False,
        answer={"type": "object", "additionalProperties": False, "required": ["access_token"],
                "properties": {"access_token": {"type": "string", "pattern": "^EAA"}, "token_type": {"const": "bearer"},
                               "expires_in": {"type": "integer"}}},
    ),
    Operation(
        "inspect a token", "GET", r"debug_token", "research §4.2",
        query={"input_token": TEXT}, required=frozenset({"input_token"}),
        answer={"type": "object", "additionalProperties": False, "required": ["data"], "properties": {"data": {
            "type": "object", "additionalProperties": False, "required": ["is_valid"],
            "properties": {
                "app_id": ID, "type": {"enum": ["USER", "SYSTEM_USER", "APP", "PAGE"]}, "application": TEXT,
                "data_access_expires_at": {"type": "integer"}, "expires_at": {"type": "integer"},
                "issued_at": {"type": "integer"}, "is_valid": {"type": "boolean"}, "user_id": ID,
                "scopes": {"type": "array", "items": TEXT},
                "granular_scopes": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["scope"],
                    "properties": {"scope": TEXT, "target_ids": {"type": "array", "items": ID}}}},
                "error": {"type": "object", "required": ["code", "message"],
                          "properties": {"code": {"type": "integer"}, "message": TEXT}},
            }}}},
    ),
    Operation(
        "the app's webhook subscriptions", "GET", r"[0-9]+/subscriptions",
        "research §7 (pywa: POST /{app_id}/subscriptions with object=whatsapp_business_account); Meta's app subscriptions reference",
        app_token=True,
        answer={"type": "object", "additionalProperties": False, "required": ["data"], "properties": {"data": {
            "type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["object", "callback_url", "active", "fields"],
                "properties": {
                    "object": {"enum": ["whatsapp_business_account", "page", "user", "application", "instagram"]},
                    "callback_url": {"type": "string", "pattern": "^https?://"}, "active": {"type": "boolean"},
                    "fields": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False, "required": ["name"],
                        "properties": {"name": TEXT, "version": {"type": "string", "pattern": r"^v[0-9]+\.[0-9]+$"}}}},
                }}}}},
    ),
    Operation(
        "read a WABA", "GET", r"[0-9]+", "file 29190 (getWhatsAppBusinessAccountDetails)",
        query={"fields": TEXT}, answer=lambda query: node_schema(WABA, query.get("fields")),
    ),
    Operation(
        "list a WABA's phone numbers", "GET", r"[0-9]+/phone_numbers", "file 25613 (getWhatsAppBusinessAccountPhoneNumbers)",
        query={"fields": TEXT, "limit": {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}, "after": TEXT, "before": TEXT,
               "filtering": TEXT, "sort": TEXT},
        answer=lambda query: connection_schema(node_schema(PHONE_NUMBER_IN_LIST, query.get("fields"))),
    ),
    Operation(
        "subscribe the app to a WABA", "POST", r"[0-9]+/subscribed_apps", "file 27518 (subscribeToWabaWebhooks)",
        # SubscriptionRequest, file 6782 (the body is optional); research §4.3: at most 200 characters.
        body={"type": "object", "additionalProperties": False, "required": ["override_callback_uri", "verify_token"],
              "properties": {"override_callback_uri": {"type": "string", "pattern": "^https://", "maxLength": 200},
                             "verify_token": TEXT}},
        answer=SUCCESS,
    ),
    Operation(
        "unsubscribe the app from a WABA", "DELETE", r"[0-9]+/subscribed_apps", "file 27351 (delete), research §4.3",
        answer=SUCCESS,
    ),
    Operation(
        "register a phone number", "POST", r"[0-9]+/register", "file 16573, RegisterRequest file 3376; research §4.4",
        body={"type": "object", "additionalProperties": False, "required": ["messaging_product", "pin"],
              "properties": {"messaging_product": {"const": "whatsapp"}, "pin": {"type": "string", "pattern": "^[0-9]{6}$"},
                             "data_localization_region": {"type": "string", "pattern": "^[A-Z]{2}$"}}},
        answer=SUCCESS,
    ),
    Operation(
        "add a phone number to a WABA", "POST", r"[0-9]+/phone_numbers", "file 25895 (createWhatsAppBusinessAccountPhoneNumber)",
        # PhoneNumberCreateRequest, file 6279; cc as Meta's guide has it (research §4.5: cc, phone_number, verified_name).
        body={"type": "object", "additionalProperties": False, "required": ["cc", "phone_number", "verified_name"],
              "properties": {"cc": {"type": "string", "pattern": "^[0-9]{1,3}$"},
                             "phone_number": {"type": "string", "pattern": "^[0-9]{4,15}$"},
                             "verified_name": {"type": "string", "minLength": 2, "maxLength": 75}}},
        answer={"type": "object", "additionalProperties": False, "required": ["id"], "properties": {"id": ID}},
    ),
    Operation(
        "request a verification code", "POST", r"[0-9]+/request_code", "file 16785, RequestCodeRequest file 3891",
        body={"type": "object", "additionalProperties": False, "required": ["code_method", "language"],
              "properties": {"code_method": {"enum": ["SMS", "VOICE"]},
                             "language": {"type": "string", "pattern": "^[a-z]{2}_[A-Z]{2}$"}}},
        answer=SUCCESS,
    ),
    Operation(
        "verify a code", "POST", r"[0-9]+/verify_code", "file 17196, VerifyCodeRequest file 3393",
        body={"type": "object", "additionalProperties": False, "required": ["code"],
              "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}}},
        answer=SUCCESS,
    ),
    Operation(
        "fetch a business token with the system user", "POST", r"[0-9]+/system_user_access_tokens", "research §3 (Hosted ES), §4.2",
        query={"fetch_only": {"const": "true"}, "appsecret_proof": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
        required=frozenset({"fetch_only", "appsecret_proof"}),
        answer={"type": "object", "additionalProperties": False, "required": ["access_token"],
                "properties": {"access_token": {"type": "string", "pattern": "^EAA"}}},
    ),
    Operation(
        "share the credit line", "POST", r"[0-9]+/whatsapp_credit_sharing_and_attach", "research §4.7",
        query={"waba_currency": {"enum": ["USD", "EUR", "GBP", "IDR", "INR", "AUD"]}, "waba_id": ID},
        required=frozenset({"waba_currency", "waba_id"}),
        answer={"type": "object", "additionalProperties": False, "required": ["allocation_config_id", "waba_id"],
                "properties": {"allocation_config_id": ID, "waba_id": ID}},
    ),
    Operation(
        # Not in the file: research §4.8 and Meta's "Onboard WhatsApp Business app users" guide.
        "start a coexistence sync", "POST", r"[0-9]+/smb_app_data", "research §4.8 (GUIDES: not in the file)",
        body={"type": "object", "additionalProperties": False, "required": ["messaging_product", "sync_type"],
              "properties": {"messaging_product": {"const": "whatsapp"},
                             "sync_type": {"enum": ["smb_app_state_sync", "history"]}}},
        answer={"type": "object", "additionalProperties": False, "required": ["messaging_product", "request_id"],
                "properties": {"messaging_product": {"const": "whatsapp"}, "request_id": TEXT}},
    ),
    Operation(
        "read a phone number", "GET", r"[0-9]+", "file 15402 (getPhoneNumberById)",
        query={"fields": TEXT}, answer=lambda query: node_schema(PHONE_NUMBER, query.get("fields")),
    ),
]


# -- one exchange on the wire, and what is wrong with it ------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str  # after /graph/{version}/
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # the JSON body sent, or None
    status: int
    answer: Any  # the JSON answered (None if not JSON)

    @classmethod
    def of(cls, method: str, url: str, headers: dict[str, str], content: bytes, status: int, answer: bytes) -> "Exchange":
        parts = urlsplit(url)
        path = re.sub(r"^.*?/graph/v[0-9]+\.[0-9]+/", "", parts.path)
        try:
            parsed_answer = json.loads(answer) if answer else None
        except ValueError:
            parsed_answer = None
        return cls(method, path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                   {key.lower(): value for key, value in headers.items()},
                   json.loads(content) if content else None, status, parsed_answer)


def operations_of(exchange: Exchange, candidates: list[Operation]) -> list[Operation]:
    """The operations a call may be: a path like /{id} is a WABA or a phone number alike."""
    return [op for op in candidates if op.method == exchange.method and re.fullmatch(op.path, exchange.path)]


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = jsonschema_rs.validator_for(schema)
    return [f"{'/'.join(map(str, error.instance_path)) or '(top)'}: {error.message}" for error in validator.iter_errors(instance)]


def request_problems(exchange: Exchange, operation: Operation) -> list[str]:
    """What in the request Meta's description of the operation does not allow."""
    found = [f"parameter {name} is not a parameter of '{operation.name}'" for name in exchange.query if name not in operation.query]
    found += [f"required parameter {name} is missing" for name in operation.required if name not in exchange.query]
    for name, value in exchange.query.items():
        if name in operation.query:
            found += [f"parameter {name}: {problem}" for problem in problems(operation.query[name], value)]
    if operation.body is None:
        if exchange.body is not None:
            found.append(f"'{operation.name}' takes no body")
    elif exchange.body is not None:
        if exchange.headers.get("content-type", "").split(";")[0] != "application/json":
            found.append("the body is not sent as JSON")
        found += [f"body {problem}" for problem in problems(operation.body, exchange.body)]
    authorization = exchange.headers.get("authorization", "")
    if operation.authenticated and not re.fullmatch(r"Bearer \S+", authorization):
        found.append("no bearer token")
    if operation.app_token and not re.fullmatch(r"Bearer [0-9]+\|\S+", authorization):
        found.append("not called with the app token")
    if not operation.authenticated and authorization:
        found.append("a token sent where none is taken")
    return found


def answer_problems(exchange: Exchange, operation: Operation) -> list[str]:
    """What in the answer Meta's description does not allow (an error answer: the envelope)."""
    if exchange.status >= 400:
        return [f"error {problem}" for problem in problems(ERROR, exchange.answer)]
    if exchange.status != 200:
        return [f"HTTP {exchange.status} is not a Graph answer"]
    try:
        schema = operation.answer(exchange.query) if callable(operation.answer) else operation.answer
    except NotOnNode as problem:
        return [str(problem)]
    return problems(schema, exchange.answer)


def conformance_problems(exchanges: list[Exchange], candidates: list[Operation] = OPERATIONS) -> list[str]:
    """Every problem of every exchange, each against the operation it fits best."""
    found = []
    for exchange in exchanges:
        where = f"{exchange.method} {exchange.path}"
        judged = [
            (operation, [f"{where} (request): {problem}" for problem in request_problems(exchange, operation)]
             + [f"{where} (answer): {problem}" for problem in answer_problems(exchange, operation)])
            for operation in operations_of(exchange, candidates)
        ]
        if not judged:
            found.append(f"{where}: not an operation Meta describes")
        elif all(judgement for _, judgement in judged):
            found += min((judgement for _, judgement in judged), key=len)
    return found
