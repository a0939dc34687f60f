"""`prefill`: friendly input in, Meta's `extras.setup` form out (SPEC 3.2).

Validators raise ValueError with a predicate ("must be …") that the API prefixes with the
parameter's dotted path, so messages read "prefill.business.name must be at most 100 characters".
"""

import re
from datetime import datetime, timezone
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema, field_validator

# Meta's vertical codes and the friendly names accepted for each (SPEC 3.2).
VERTICALS: dict[str, tuple[str, ...]] = {
    "AUTO": ("Automotive",),
    "BEAUTY": ("Beauty", "Beauty, spa and salon"),
    "APPAREL": ("Apparel", "Clothing", "Clothing and apparel"),
    "EDU": ("Education",),
    "ENTERTAIN": ("Entertainment",),
    "EVENT_PLAN": ("Event planning", "Event planning and service"),
    "FINANCE": ("Finance", "Finance and banking"),
    "GROCERY": ("Grocery", "Food and grocery"),
    "GOVT": ("Government", "Public service"),
    "HOTEL": ("Hotel", "Hotel and lodging"),
    "HEALTH": ("Health", "Healthcare", "Medical and health"),
    "NONPROFIT": ("Nonprofit", "Non-profit"),
    "PROF_SERVICES": ("Professional services",),
    "RETAIL": ("Retail", "Shopping and retail"),
    "TRAVEL": ("Travel", "Travel and transportation"),
    "RESTAURANT": ("Restaurant",),
    "ALCOHOL": ("Alcohol", "Alcoholic beverages"),
    "ONLINE_GAMBLING": ("Online gambling",),
    "PHYSICAL_GAMBLING": ("Physical gambling",),
    "OTC_DRUGS": ("Over-the-counter drugs",),
    "OTHER": ("Other",),
    "NOT_A_BIZ": ("Not a business",),
}


def _fold(text: str) -> str:
    """Case, spaces and punctuation do not matter, and '&' reads as 'and':
    'Beauty, spa & salon' ~ 'beauty spa and salon' ~ 'beautyspaandsalon'."""
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("&", " and "))


_VERTICAL_BY_FOLDED = {
    _fold(name): code for code, names in VERTICALS.items() for name in (code, *names)
}

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()
)

_UTC_OFFSET = re.compile(r"^UTC([+-])([0-9]{2}):([0-9]{2})$")


def _meta_id(value: object) -> str:
    """Meta object ids are digit strings; an integer is accepted and written as one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,32}", value):
        return value
    raise ValueError("must be a Meta id (1 to 32 digits)")


MetaId = Annotated[
    str,
    BeforeValidator(_meta_id),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": "^[0-9]{1,32}$"}, {"type": "integer", "minimum": 0, "maximum": 10**32 - 1}]},
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_Strict):
    streetAddress1: str | None = Field(None, max_length=255)
    streetAddress2: str | None = Field(None, max_length=255)
    city: str | None = Field(None, max_length=255)
    state: str | None = Field(None, max_length=255)
    zipPostal: str | None = Field(None, max_length=255)
    country: str | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.upper()
        if code not in COUNTRIES:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code such as US or BR")
        return code


class BusinessPhone(_Strict):
    code: StrictInt = Field(ge=1, le=999)
    number: str

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: object) -> object:
        # "+1" and "1" are friendly spellings of the calling code 1.
        if isinstance(value, str) and re.fullmatch(r"\+?[0-9]{1,3}", value.strip()):
            return int(value.strip().lstrip("+"))
        return value

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:  # as a string its "-" would pass for a separator
                raise ValueError("must be a national phone number of 4 to 15 digits")
            value = str(value)
        if not isinstance(value, str):
            return value
        digits = re.sub(r"[\s\-.()]", "", value)
        if not re.fullmatch(r"[0-9]{4,15}", digits):
            raise ValueError("must be a national phone number of 4 to 15 digits")
        return digits


class Business(_Strict):
    id: MetaId | None = None
    name: str | None = Field(None, min_length=1, max_length=100)
    email: str | None = None
    website: str | None = Field(None, max_length=2048)
    address: Address | None = None
    phone: BusinessPhone | None = None
    timezone: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValueError("must be a valid e-mail address") from None

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#.]+(?:\.[^\s/?#.]+)+(?:[/?#]\S*)?", value, flags=re.IGNORECASE):
            raise ValueError("must be an http:// or https:// URL such as https://acme.com")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _UTC_OFFSET.fullmatch(value):
            sign, hours, minutes = _UTC_OFFSET.fullmatch(value).groups()
            offset = int(hours) * 60 + int(minutes)
            # The world's offsets run from UTC-12:00 to UTC+14:00.
            if int(minutes) < 60 and offset <= (14 * 60 if sign == "+" else 12 * 60):
                return value
        elif "/" in value or value == "UTC":
            try:
                ZoneInfo(value)
                return value
            except (ZoneInfoNotFoundError, ValueError):
                pass
        raise ValueError("must be an IANA time zone such as America/Los_Angeles, or UTC±HH:MM")


class PhoneProfile(_Strict):
    displayName: str = Field(min_length=1, max_length=100)
    category: str
    description: str = Field(min_length=1, max_length=512)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        code = _VERTICAL_BY_FOLDED.get(_fold(value))
        if code is None:
            raise ValueError(
                "must be one of Meta's verticals: "
                + ", ".join(f"{code} ({names[0]})" for code, names in VERTICALS.items())
            )
        return code


class IdList(_Strict):
    ids: list[MetaId] = Field(max_length=100)


class Prefill(_Strict):
    business: Business | None = None
    phone: PhoneProfile | None = None
    preVerifiedPhone: IdList | None = None
    whatsAppBusinessAccount: IdList | None = None

    def stored(self) -> dict:
        """The normalised prefill as Roost keeps and returns it (timezone as given)."""
        return self.model_dump(exclude_none=True)


def meta_timezone(value: str, at: datetime | None = None) -> str:
    """Meta wants `UTC±HH:MM`; an IANA zone becomes its offset at launch time."""
    if _UTC_OFFSET.fullmatch(value):
        return value
    offset = (at or datetime.now(timezone.utc)).astimezone(ZoneInfo(value)).utcoffset()
    total_minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if total_minutes >= 0 else "-"
    hours, minutes = divmod(abs(total_minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def meta_setup(stored: dict, at: datetime | None = None) -> dict:
    """`extras.setup` for FB.login: the stored prefill with the time zone resolved."""
    setup = {key: (dict(value) if isinstance(value, dict) else value) for key, value in stored.items()}
    business = setup.get("business")
    if business and business.get("timezone"):
        business["timezone"] = meta_timezone(business["timezone"], at)
    return setup
