"""`prefill` rules (SPEC 3.2): the normaliser in roost.sessions.prefill, and a few checks over HTTP."""

import copy
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from roost.kit.validation import problems_from
from roost.sessions.prefill import Prefill, meta_setup, meta_timezone
from tests.support import SEED_BODY, SESSIONS, count_sessions

# SPEC 3.2's table, written out here (not imported) so a wrong table in the code fails.
SPEC_VERTICALS = {
    "AUTO": ["Automotive"],
    "BEAUTY": ["Beauty", "Beauty, spa and salon"],
    "APPAREL": ["Apparel", "Clothing", "Clothing and apparel"],
    "EDU": ["Education"],
    "ENTERTAIN": ["Entertainment"],
    "EVENT_PLAN": ["Event planning", "Event planning and service"],
    "FINANCE": ["Finance", "Finance and banking"],
    "GROCERY": ["Grocery", "Food and grocery"],
    "GOVT": ["Government", "Public service"],
    "HOTEL": ["Hotel", "Hotel and lodging"],
    "HEALTH": ["Health", "Healthcare", "Medical and health"],
    "NONPROFIT": ["Nonprofit", "Non-profit"],
    "PROF_SERVICES": ["Professional services"],
    "RETAIL": ["Retail", "Shopping and retail"],
    "TRAVEL": ["Travel", "Travel and transportation"],
    "RESTAURANT": ["Restaurant"],
    "ALCOHOL": ["Alcohol", "Alcoholic beverages"],
    "ONLINE_GAMBLING": ["Online gambling"],
    "PHYSICAL_GAMBLING": ["Physical gambling"],
    "OTC_DRUGS": ["Over-the-counter drugs"],
    "OTHER": ["Other"],
    "NOT_A_BIZ": ["Not a business"],
}
SPELLINGS = [(code, code) for code in SPEC_VERTICALS] + [
    (name, code) for code, names in SPEC_VERTICALS.items() for name in names
]

JANUARY = datetime(2024, 1, 15, 12, 0, tzinfo=timezone.utc)
JULY = datetime(2024, 7, 15, 12, 0, tzinfo=timezone.utc)


def phone_profile(**changes) -> dict:
    profile = {"displayName": "Acme Support", "category": "AUTO", "description": "Support line"}
    profile.update(changes)
    return {k: v for k, v in profile.items() if v is not None}


def normalise(prefill: dict) -> dict:
    return Prefill.model_validate(prefill).stored()


def problems(prefill: dict) -> list[dict]:
    """The problems the API would report for this prefill (params as dotted paths)."""
    with pytest.raises(ValidationError) as caught:
        Prefill.model_validate(prefill)
    return problems_from(caught.value, prefix=("prefill",))


def refused(prefill: dict, param: str, code: str = "parameter_invalid") -> dict:
    found = problems(prefill)
    matching = [problem for problem in found if problem["param"] == param]
    assert matching, found
    assert matching[0]["code"] == code
    return matching[0]


def business(**fields) -> dict:
    return {"business": fields}


def address(**fields) -> dict:
    return business(address=fields)


def business_phone(code=1, number="4155551234") -> dict:
    return business(phone={"code": code, "number": number})


# -- phone.category ------------------------------------------------------------------------


@pytest.mark.parametrize(("spelling", "code"), SPELLINGS)
def test_every_vertical_code_and_friendly_name_maps_to_its_code(spelling, code):
    assert normalise({"phone": phone_profile(category=spelling)})["phone"]["category"] == code


@pytest.mark.parametrize(("spelling", "code"), SPELLINGS)
def test_vertical_names_are_case_insensitive(spelling, code):
    for variant in (spelling.upper(), spelling.lower(), spelling.swapcase()):
        assert normalise({"phone": phone_profile(category=variant)})["phone"]["category"] == code


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("beauty spa and salon", "BEAUTY"),
        ("  Beauty -- spa, and salon!  ", "BEAUTY"),
        ("event plan", "EVENT_PLAN"),
        ("prof-services", "PROF_SERVICES"),
        ("not a biz", "NOT_A_BIZ"),
        ("over the counter drugs", "OTC_DRUGS"),
        ("OTC drugs", "OTC_DRUGS"),
        ("non profit", "NONPROFIT"),
        ("health-care", "HEALTH"),
    ],
)
def test_vertical_names_ignore_spaces_and_punctuation(spelling, code):
    assert normalise({"phone": phone_profile(category=spelling)})["phone"]["category"] == code


@pytest.mark.parametrize(
    ("spelling", "code"),
    [("beauty, SPA & salon", "BEAUTY"), ("Clothing & apparel", "APPAREL"), ("Event planning & service", "EVENT_PLAN")],
)
def test_ampersand_reads_as_and_in_vertical_names(spelling, code):
    assert normalise({"phone": phone_profile(category=spelling)})["phone"]["category"] == code


@pytest.mark.parametrize("category", ["Plumbing", "", "AUTOMOTIVE_SERVICES", "beauty salon spa"])
def test_unknown_category_lists_the_accepted_values(category):
    problem = refused({"phone": phone_profile(category=category)}, "prefill.phone.category")
    for code in SPEC_VERTICALS:
        assert code in problem["message"]
    assert "Automotive" in problem["message"]


# -- business ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A", "Acme Corp", "n" * 100, "Café Ünïcødé"])
def test_business_name_of_1_to_100_characters_is_kept(name):
    assert normalise(business(name=name))["business"]["name"] == name


def test_business_name_of_101_characters_is_refused_with_the_spec_message():
    problem = refused(business(name="n" * 101), "prefill.business.name")
    assert problem["message"] == "prefill.business.name must be at most 100 characters"


@pytest.mark.parametrize("name", ["", "   ", 42, ["Acme"]], ids=["empty", "blank", "int", "list"])
def test_business_name_refused(name):
    refused(business(name=name), "prefill.business.name")


@pytest.mark.parametrize("email", ["contact@acme.com", "first.last+tag@sub.example.co.uk"])
def test_business_email_accepted(email):
    assert normalise(business(email=email))["business"]["email"] == email


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@acme.com", "a b@acme.com", "a@@acme.com", "", 5])
def test_business_email_refused(email):
    refused(business(email=email), "prefill.business.email")


@pytest.mark.parametrize("website", ["https://acme.com", "http://acme.com", "https://www.acme.com/about?x=1", "HTTPS://ACME.COM"])
def test_business_website_http_or_https_accepted(website):
    assert normalise(business(website=website))["business"]["website"] == website


@pytest.mark.parametrize(
    "website",
    [
        "ftp://acme.com", "acme.com", "www.acme.com", "javascript:alert(1)", "mailto:a@acme.com", "https://",
        "https://acme .com", "", "https://...", "https://acme..com", "https://.acme.com",
    ],
)
def test_business_website_refused(website):
    refused(business(website=website), "prefill.business.website")


@pytest.mark.parametrize("field", ["streetAddress1", "streetAddress2", "city", "state", "zipPostal"])
def test_address_fields_up_to_255_characters_are_kept(field):
    assert normalise(address(**{field: "x" * 255}))["business"]["address"][field] == "x" * 255


@pytest.mark.parametrize("field", ["streetAddress1", "streetAddress2", "city", "state", "zipPostal"])
def test_address_fields_over_255_characters_are_refused(field):
    problem = refused(address(**{field: "x" * 256}), f"prefill.business.address.{field}")
    assert "255" in problem["message"]


@pytest.mark.parametrize(("given", "stored"), [("US", "US"), ("us", "US"), ("Br", "BR"), ("de", "DE")])
def test_country_is_case_insensitive_and_stored_upper_case(given, stored):
    assert normalise(address(country=given))["business"]["address"]["country"] == stored


@pytest.mark.parametrize("country", ["XX", "USA", "U", "", "1A", "ZZ", 1])
def test_unknown_country_code_is_refused(country):
    refused(address(country=country), "prefill.business.address.country")


@pytest.mark.parametrize("code", [1, 44, 55, 999])
def test_phone_code_from_1_to_999_is_kept(code):
    assert normalise(business_phone(code=code))["business"]["phone"]["code"] == code


@pytest.mark.parametrize("code", [0, -1, 1000, 1.5, "abc", True, None], ids=repr)
def test_phone_code_outside_1_to_999_or_not_an_integer_is_refused(code):
    refused(business_phone(code=code), "prefill.business.phone.code")


@pytest.mark.parametrize(
    ("number", "digits"),
    [
        ("4155551234", "4155551234"),
        ("(415) 555-1234", "4155551234"),
        ("415.555.1234", "4155551234"),
        ("415 555 12 34", "4155551234"),
        ("1234", "1234"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_phone_number_separators_are_removed(number, digits):
    assert normalise(business_phone(number=number))["business"]["phone"]["number"] == digits


@pytest.mark.parametrize(
    "number",
    [
        "123", "1-2-3", "1234567890123456", "415555A234", "+14155551234", "415/555/1234", "", "----",
        -4155551234, "\u0664\u0661\u0665\u0665\u0665\u0665",
    ],
    ids=repr,
)
def test_phone_number_that_is_not_4_to_15_digits_is_refused(number):
    refused(business_phone(number=number), "prefill.business.phone.number")


SEPARATORS = st.sampled_from([" ", "-", ".", "(", ")"])


@st.composite
def separated_digits(draw, min_digits: int, max_digits: int) -> tuple[str, str]:
    digits = draw(st.text(alphabet="0123456789", min_size=min_digits, max_size=max_digits))
    pieces = [draw(st.lists(SEPARATORS, max_size=3)) for _ in range(len(digits) + 1)]
    spelled = "".join("".join(seps) + digit for seps, digit in zip(pieces, digits)) + "".join(pieces[-1])
    return spelled, digits


@given(separated_digits(4, 15))
def test_any_4_to_15_digits_with_separators_normalise_to_the_digits(case):
    spelled, digits = case
    assert normalise(business_phone(number=spelled))["business"]["phone"]["number"] == digits


@given(st.one_of(separated_digits(0, 3), separated_digits(16, 25)))
def test_fewer_than_4_or_more_than_15_digits_are_refused_whatever_the_separators(case):
    spelled, _ = case
    refused(business_phone(number=spelled), "prefill.business.phone.number")


@pytest.mark.parametrize(
    "zone", ["America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata", "UTC", "UTC+05:30", "UTC-08:00", "UTC+00:00", "UTC+14:00",
             "UTC-12:00"]
)
def test_timezone_iana_or_utc_offset_is_kept_as_given(zone):
    assert normalise(business(timezone=zone))["business"]["timezone"] == zone


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "PST", "UTC+5", "UTC+25:00", "UTC+05:60", "GMT+2", "UTC 05:00", "../../etc/passwd", "", 8,
             "UTC+14:59", "UTC+14:01", "UTC-12:30", "UTC-14:00", "UTC+\u0660\u0665:00"]
)
def test_timezone_refused(zone):
    refused(business(timezone=zone), "prefill.business.timezone")


@pytest.mark.parametrize(
    ("zone", "at", "meta"),
    [
        ("America/Los_Angeles", JANUARY, "UTC-08:00"),
        ("America/Los_Angeles", JULY, "UTC-07:00"),
        ("Europe/Berlin", JANUARY, "UTC+01:00"),
        ("Europe/Berlin", JULY, "UTC+02:00"),
        ("Asia/Kolkata", JANUARY, "UTC+05:30"),
        ("Asia/Kathmandu", JULY, "UTC+05:45"),
        ("America/St_Johns", JANUARY, "UTC-03:30"),
        ("UTC", JULY, "UTC+00:00"),
        ("UTC+05:30", JANUARY, "UTC+05:30"),
        ("UTC-08:00", JULY, "UTC-08:00"),
    ],
)
def test_meta_timezone_is_the_offset_at_launch_time(zone, at, meta):
    assert meta_timezone(zone, at) == meta


def test_meta_setup_converts_the_timezone_and_leaves_the_stored_prefill_alone():
    stored = normalise(SEED_BODY["prefill"])
    setup = meta_setup(stored, JULY)
    assert setup["business"]["timezone"] == "UTC-07:00"
    assert stored["business"]["timezone"] == "America/Los_Angeles"
    assert {k: v for k, v in setup["business"].items() if k != "timezone"} == {
        k: v for k, v in stored["business"].items() if k != "timezone"
    }
    assert setup["phone"] == stored["phone"]


@pytest.mark.parametrize("business_id", ["123456789012345", "1"])
def test_business_id_digits_accepted(business_id):
    assert normalise(business(id=business_id))["business"]["id"] == business_id


@pytest.mark.parametrize(("given", "stored"), [(123456789012345, "123456789012345"), (0, "0"), ("0", "0")])
def test_a_business_id_given_as_a_number_is_stored_as_its_digits(given, stored):
    assert normalise(business(id=given))["business"]["id"] == stored


@pytest.mark.parametrize(
    "business_id", ["abc", "12a4", "", "-5", "1.5", "1" * 33, 10**40, -5, True, "\u0661\u0662\u0663"], ids=repr
)
def test_business_id_must_be_digits(business_id):
    refused(business(id=business_id), "prefill.business.id")


# -- phone (the WhatsApp profile) ------------------------------------------------------------


@pytest.mark.parametrize("missing", ["displayName", "category", "description"])
def test_phone_needs_display_name_category_and_description(missing):
    refused({"phone": phone_profile(**{missing: None})}, f"prefill.phone.{missing}", "parameter_missing")


def test_phone_lists_every_missing_field():
    found = problems({"phone": {}})
    assert {(p["param"], p["code"]) for p in found} == {
        ("prefill.phone.displayName", "parameter_missing"),
        ("prefill.phone.category", "parameter_missing"),
        ("prefill.phone.description", "parameter_missing"),
    }


def test_phone_description_up_to_512_characters_is_kept():
    assert normalise({"phone": phone_profile(description="d" * 512)})["phone"]["description"] == "d" * 512


@pytest.mark.parametrize(
    ("field", "value"), [("description", "d" * 513), ("description", ""), ("displayName", "n" * 101), ("displayName", "")]
)
def test_phone_text_fields_out_of_range_are_refused(field, value):
    refused({"phone": phone_profile(**{field: value})}, f"prefill.phone.{field}")


# -- id lists ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["preVerifiedPhone", "whatsAppBusinessAccount"])
def test_id_lists_of_digits_pass_through(field):
    ids = ["106540352242922", "524126980791429"]
    assert normalise({field: {"ids": ids}})[field] == {"ids": ids}


@pytest.mark.parametrize("field", ["preVerifiedPhone", "whatsAppBusinessAccount"])
@pytest.mark.parametrize("bad", ["abc", "12a", "", "-1", "1 2", True], ids=repr)
def test_id_lists_refuse_anything_but_digits(field, bad):
    found = problems({field: {"ids": ["123", bad]}})
    assert [p["param"] for p in found] == [f"prefill.{field}.ids[1]"]
    assert found[0]["code"] == "parameter_invalid"


@pytest.mark.parametrize("field", ["preVerifiedPhone", "whatsAppBusinessAccount"])
def test_id_lists_must_be_lists(field):
    refused({field: {"ids": "123"}}, f"prefill.{field}.ids")


# -- through HTTP ------------------------------------------------------------------------------


def test_normalised_prefill_is_what_get_returns(api):
    prefill = {
        "business": {
            "name": "Loja Exemplo",
            "address": {"city": "São Paulo", "country": "br"},
            "phone": {"code": 55, "number": "(11) 98765-4321"},
            "timezone": "America/Sao_Paulo",
        },
        "phone": {"displayName": "Loja", "category": "beauty spa and salon", "description": "Atendimento"},
        "whatsAppBusinessAccount": {"ids": ["524126980791429"]},
    }
    created = api.post(SESSIONS, json={"prefill": prefill})
    assert created.status_code == 201, created.text
    fetched = api.get(f"{SESSIONS}/{created.json()['id']}").json()["prefill"]
    assert fetched["business"]["address"]["country"] == "BR"
    assert fetched["business"]["phone"] == {"code": 55, "number": "11987654321"}
    assert fetched["business"]["timezone"] == "America/Sao_Paulo"
    assert fetched["phone"]["category"] == "BEAUTY"
    assert fetched["whatsAppBusinessAccount"] == {"ids": ["524126980791429"]}


def test_long_business_name_over_http_gives_the_spec_error(roost, org, api):
    body = copy.deepcopy(SEED_BODY)
    body["prefill"]["business"]["name"] = "n" * 101
    response = api.post(SESSIONS, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "parameter_invalid"
    assert error["param"] == "prefill.business.name"
    assert error["message"] == "prefill.business.name must be at most 100 characters"
    assert error["request_id"] == response.headers["Request-Id"]
    assert count_sessions(roost, org.id) == 0


def test_unknown_category_over_http_lists_accepted_values(roost, org, api):
    body = copy.deepcopy(SEED_BODY)
    body["prefill"]["phone"]["category"] = "Plumbing"
    response = api.post(SESSIONS, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "prefill.phone.category")
    assert all(code in error["message"] for code in SPEC_VERTICALS)
    assert count_sessions(roost, org.id) == 0


def test_phone_without_description_over_http_is_parameter_missing(roost, org, api):
    body = copy.deepcopy(SEED_BODY)
    del body["prefill"]["phone"]["description"]
    response = api.post(SESSIONS, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_missing", "prefill.phone.description")
    assert count_sessions(roost, org.id) == 0


def test_prefill_must_be_an_object(roost, org, api):
    response = api.post(SESSIONS, json={"prefill": ["business"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "prefill")
    assert count_sessions(roost, org.id) == 0
