"""The yardstick itself: the checks find what Meta would not answer or take (so a passing suite
means something)."""

from tests.meta.conformance.meta import Exchange, conformance_problems

WABA_ID, PHONE_ID = "104996122399160", "106540352242922"
PHONE_FIELDS = "id,display_phone_number,verified_name,quality_rating,code_verification_status,status,platform_type,is_on_biz_app"


def exchange(method: str, path: str, query=None, body=None, status: int = 200, answer=None, token: str = "Bearer EAAGx") -> Exchange:
    headers = {"authorization": token} if token else {}
    if body is not None:
        headers["content-type"] = "application/json"
    return Exchange(method, path, query or {}, headers, body, status, answer)


def test_an_answer_with_exactly_the_requested_fields_conforms():
    answer = {"id": PHONE_ID, "code_verification_status": "VERIFIED", "status": "PENDING", "is_on_biz_app": False}
    fields = "code_verification_status,status,is_on_biz_app"

    assert conformance_problems([exchange("GET", PHONE_ID, {"fields": fields}, answer=answer)]) == []


def test_a_field_nobody_asked_for_is_caught():
    answer = {"id": PHONE_ID, "display_phone_number": "+1 631-555-0100", "code_verification_status": "VERIFIED"}

    found = conformance_problems([exchange("GET", PHONE_ID, answer=answer)])

    assert found and all("code_verification_status" in problem for problem in found), found


def test_a_field_in_a_nested_selection_nobody_asked_for_is_caught():
    answer = {"id": WABA_ID, "phone_numbers": {"data": [{"id": PHONE_ID, "status": "PENDING"}]}}

    assert conformance_problems([exchange("GET", WABA_ID, {"fields": "phone_numbers{id}"}, answer=answer)])
    assert conformance_problems([exchange("GET", WABA_ID, {"fields": "phone_numbers{id,status}"}, answer=answer)]) == []


def test_a_value_outside_metas_enum_is_caught():
    answer = {"data": [{"id": PHONE_ID, "status": "ONLINE"}], "paging": {"cursors": {"before": "a", "after": "b"}}}

    assert conformance_problems([exchange("GET", f"{WABA_ID}/phone_numbers", {"fields": "id,status"}, answer=answer)])


def test_requests_meta_would_refuse_are_caught():
    assert conformance_problems([exchange("POST", f"{PHONE_ID}/register", body={"messaging_product": "whatsapp", "pin": "12345"}, answer={"success": True})])
    assert conformance_problems([exchange("POST", f"{PHONE_ID}/register", body={"pin": "123456"}, answer={"success": True})])
    assert conformance_problems([exchange("POST", f"{PHONE_ID}/register", body={"messaging_product": "whatsapp", "pin": "123456", "extra": 1}, answer={"success": True})])
    assert conformance_problems([exchange("GET", PHONE_ID, {"fields": "nope"}, answer={"id": PHONE_ID})])
    assert conformance_problems([exchange("GET", PHONE_ID, answer={"id": PHONE_ID}, token="")])
    assert conformance_problems([exchange("PUT", PHONE_ID, answer={"id": PHONE_ID})])
    good = exchange("POST", f"{PHONE_ID}/register", body={"messaging_product": "whatsapp", "pin": "123456"}, answer={"success": True})
    assert conformance_problems([good]) == []


def test_an_error_outside_metas_envelope_is_caught():
    envelope = {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "Axyz"}}
    assert conformance_problems([exchange("GET", PHONE_ID, status=400, answer=envelope)]) == []

    assert conformance_problems([exchange("GET", PHONE_ID, status=400, answer={"error": "nope"})])
    assert conformance_problems([exchange("GET", PHONE_ID, status=400, answer={"error": {**envelope["error"], "type": "Exception"}})])


def test_a_page_says_next_only_as_a_url():
    page = {"data": [{"id": PHONE_ID}], "paging": {"cursors": {"before": "a", "after": "b"}, "next": 5}}

    assert conformance_problems([exchange("GET", f"{WABA_ID}/phone_numbers", {"fields": "id"}, answer=page)])
