"""Reading and listing embedded signup sessions (SPEC 3.3, 3.4; tenancy and modes, SPEC 1)."""

import re
from types import SimpleNamespace

import pytest

from roost.kit.timeutil import parse_time
from tests.support import SEED_BODY, SESSIONS, RunningRoost, assert_error, make_settings

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SESSION_FIELDS = {
    "id", "object", "livemode", "source", "status", "created_at", "expires_at", "started_at",
    "code_received_at", "completed_at", "cancelled_at", "redirect_uri", "state", "metadata", "prefill",
    "locale", "coexistence", "solution_id", "waba_id", "business_id", "phone_number_id", "business_profile_id",
    "last_step", "error", "provisioning",
}
LIVE_META = {"meta_app_id": "1234567890", "meta_app_secret": "app-secret", "meta_config_id": "987654321"}
T0 = 1705320000000  # 2024-01-15T12:00:00.000Z


def create(client, **body) -> dict:
    response = client.post(SESSIONS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def listed(client, **params) -> list[str]:
    """The ids of one page of the list."""
    response = client.get(SESSIONS, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def set_created_at(roost, session_id: str, at: int) -> None:
    """Age a session (and the copy of its sort keys kept beside its metadata)."""
    roost.sql("UPDATE embedded_signup_sessions SET created_at = :at WHERE id = :id", at=at, id=session_id)
    roost.sql("UPDATE session_metadata_values SET created_at = :at WHERE session_id = :id", at=at, id=session_id)


# -- GET one -------------------------------------------------------------------------------


def test_get_returns_every_field_of_the_session(api):
    created = create(api, **SEED_BODY)
    response = api.get(f"{SESSIONS}/{created['id']}")
    assert response.status_code == 200, response.text
    body = response.json()

    assert set(body) == SESSION_FIELDS  # the one-time url is only shown on creation
    assert body == {key: value for key, value in created.items() if key != "url"}
    assert body["object"] == "embedded_signup_session"
    assert body["livemode"] is False
    assert body["source"] == "hosted"
    assert body["status"] == "pending"
    assert ISO_MS.match(body["created_at"]) and ISO_MS.match(body["expires_at"])
    for unset in ("started_at", "code_received_at", "completed_at", "cancelled_at", "locale", "waba_id",
                  "business_id", "phone_number_id", "business_profile_id", "last_step", "error"):
        assert body[unset] is None, unset
    assert body["redirect_uri"] == SEED_BODY["redirect_uri"]
    assert body["state"] == SEED_BODY["state"]
    assert body["metadata"] == SEED_BODY["metadata"]
    assert body["prefill"]["phone"]["category"] == "AUTO"
    assert body["prefill"]["business"]["timezone"] == "America/Los_Angeles"
    assert body["coexistence"] is False
    assert body["provisioning"] == []


def test_expires_at_is_fifteen_minutes_after_created_at(api):
    body = api.get(f"{SESSIONS}/{create(api)['id']}").json()
    assert parse_time(body["expires_at"]) - parse_time(body["created_at"]) == 15 * 60 * 1000


def test_get_of_an_empty_session_shows_empty_metadata_and_null_prefill(api):
    body = api.get(f"{SESSIONS}/{create(api)['id']}").json()
    assert body["metadata"] == {}
    assert body["prefill"] is None
    assert body["redirect_uri"] is None and body["state"] is None


@pytest.mark.parametrize(
    "session_id",
    [
        "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI",  # well formed, never issued
        "wss_",
        "wss_abc-def",
        "not-an-id",
        "evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI",  # another type's prefix
        "wss_" + "a" * 300,
        "WSS_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
    ],
)
def test_get_of_an_unknown_or_malformed_id_is_404(api, session_id):
    assert_error(api.get(f"{SESSIONS}/{session_id}"), 404, "resource_missing")


def test_get_of_another_organizations_session_is_404(roost, api):
    other = roost.new_org()
    with other.client() as other_api:
        theirs = create(other_api)
    assert_error(api.get(f"{SESSIONS}/{theirs['id']}"), 404, "resource_missing")


def test_a_key_never_lists_another_organizations_sessions(roost, api):
    mine = create(api, metadata={"tenant": "shared"})
    other = roost.new_org()
    with other.client() as other_api:
        create(other_api, metadata={"tenant": "shared"})
    assert listed(api) == [mine["id"]]
    assert listed(api, **{"metadata[tenant]": "shared"}) == [mine["id"]]


def test_another_organizations_session_is_not_a_valid_cursor(roost, api):
    create(api)
    other = roost.new_org()
    with other.client() as other_api:
        theirs = create(other_api)
    assert_error(api.get(SESSIONS, params={"starting_after": theirs["id"]}), 400, "parameter_invalid", "starting_after")


# -- modes: a key never sees objects of the other mode ------------------------------------------


@pytest.fixture(scope="module")
def two_modes(backend, tmp_path_factory):
    """A server with a Meta app (so live sessions can be created), one org, one session per mode.

    Module-scoped (start_roost is per test), and read-only for the tests that use it.
    """
    server = RunningRoost(make_settings(backend, tmp_path_factory.mktemp("roost-live"), **LIVE_META)).start()
    organization = server.new_org(live=True)
    with organization.client(organization.keys["test"]) as test, organization.client(organization.keys["live"]) as live:
        yield SimpleNamespace(
            test=test,
            live=live,
            test_session=create(test, metadata={"who": "same"}),
            live_session=create(live, metadata={"who": "same"}),
        )
    server.stop()


def test_sessions_carry_the_mode_of_the_key_that_created_them(two_modes):
    assert two_modes.test_session["livemode"] is False
    assert two_modes.live_session["livemode"] is True
    assert two_modes.live.get(f"{SESSIONS}/{two_modes.live_session['id']}").json()["livemode"] is True


def test_a_live_key_does_not_see_a_test_session(two_modes):
    response = two_modes.live.get(f"{SESSIONS}/{two_modes.test_session['id']}")
    assert_error(response, 404, "resource_missing")


def test_a_test_key_does_not_see_a_live_session(two_modes):
    response = two_modes.test.get(f"{SESSIONS}/{two_modes.live_session['id']}")
    assert_error(response, 404, "resource_missing")


@pytest.mark.parametrize(
    "params",
    [{}, {"status": "pending"}, {"source": "hosted"}, {"metadata[who]": "same"}, {"created[gte]": "0"}],
    ids=["no filter", "status", "source", "metadata", "created"],
)
def test_each_mode_lists_only_its_own_sessions(two_modes, params):
    assert listed(two_modes.test, **params) == [two_modes.test_session["id"]]
    assert listed(two_modes.live, **params) == [two_modes.live_session["id"]]


def test_a_session_of_the_other_mode_is_not_a_valid_cursor(two_modes):
    response = two_modes.live.get(SESSIONS, params={"ending_before": two_modes.test_session["id"]})
    assert_error(response, 400, "parameter_invalid", "ending_before")


# -- list: shape, order, limit -------------------------------------------------------------------


def test_list_has_the_documented_shape(api):
    session = create(api)
    response = api.get(SESSIONS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"object", "data", "has_more"}
    assert body["object"] == "list"
    assert body["has_more"] is False
    assert body["data"] == [api.get(f"{SESSIONS}/{session['id']}").json()]


def test_list_of_an_organization_without_sessions_is_empty(api):
    assert api.get(SESSIONS).json() == {"object": "list", "data": [], "has_more": False}


def test_list_is_newest_first_by_created_time(roost, api):
    ids = [create(api)["id"] for _ in range(3)]
    # Created time decides, not the id: make the last-created session the oldest.
    set_created_at(roost, ids[0], T0 + 2000)
    set_created_at(roost, ids[1], T0 + 1000)
    set_created_at(roost, ids[2], T0)
    assert listed(api) == ids


def test_sessions_created_in_the_same_millisecond_are_ordered_by_id(roost, api):
    ids = [create(api)["id"] for _ in range(6)]
    for session_id in ids:
        set_created_at(roost, session_id, T0)
    assert listed(api) == sorted(ids, reverse=True)


@pytest.fixture(scope="module")
def paged(roost) -> SimpleNamespace:
    """25 sessions of one organization (read-only); groups of five share a millisecond.

    `ids` is newest first, the order the list must give.
    """
    organization = roost.new_org()
    with organization.client() as client:
        ids = [create(client)["id"] for _ in range(25)]
        created = {}
        for index, session_id in enumerate(ids):
            created[session_id] = T0 + index // 5
            set_created_at(roost, session_id, created[session_id])
        yield SimpleNamespace(
            api=client, ids=sorted(ids, key=lambda session_id: (created[session_id], session_id), reverse=True)
        )


def test_default_limit_is_twenty(paged):
    body = paged.api.get(SESSIONS).json()
    assert [item["id"] for item in body["data"]] == paged.ids[:20]
    assert body["has_more"] is True


@pytest.mark.parametrize("limit, count, has_more", [(1, 1, True), (24, 24, True), (25, 25, False), (100, 25, False)])
def test_limit_sets_the_page_size_and_has_more_says_whether_more_follow(paged, limit, count, has_more):
    body = paged.api.get(SESSIONS, params={"limit": limit}).json()
    assert [item["id"] for item in body["data"]] == paged.ids[:count]
    assert body["has_more"] is has_more


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1", "1.5", "", "1e2", "\u00b2", "\u0661\u0660", "\uff15"])
def test_a_limit_outside_1_to_100_is_refused(api, limit):
    assert_error(api.get(SESSIONS, params={"limit": limit}), 400, "parameter_invalid", "limit")


# -- cursors ---------------------------------------------------------------------------------


def test_starting_after_walks_every_session_once_newest_first(paged):
    seen, pages, cursor = [], [], None
    while True:
        params = {"limit": 7} | ({"starting_after": cursor} if cursor else {})
        body = paged.api.get(SESSIONS, params=params).json()
        page = [item["id"] for item in body["data"]]
        seen += page
        pages.append((len(page), body["has_more"]))
        if not body["has_more"]:
            break
        cursor = page[-1]
    assert seen == paged.ids
    assert pages == [(7, True), (7, True), (7, True), (4, False)]


def test_ending_before_walks_every_session_once_back_to_the_newest(paged):
    oldest = paged.ids[-1]
    seen, pages, cursor = [oldest], [], oldest
    while True:
        body = paged.api.get(SESSIONS, params={"limit": 7, "ending_before": cursor}).json()
        page = [item["id"] for item in body["data"]]
        seen = page + seen  # each page is itself newest first
        pages.append((len(page), body["has_more"]))
        if not body["has_more"]:
            break
        cursor = page[0]
    assert seen == paged.ids
    assert pages == [(7, True), (7, True), (7, True), (3, False)]


def test_ending_before_returns_the_sessions_just_newer_than_the_cursor(paged):
    body = paged.api.get(SESSIONS, params={"limit": 3, "ending_before": paged.ids[10]}).json()
    assert [item["id"] for item in body["data"]] == paged.ids[7:10]
    assert body["has_more"] is True


def test_starting_after_the_oldest_session_is_an_empty_page(paged):
    assert paged.api.get(SESSIONS, params={"starting_after": paged.ids[-1]}).json()["data"] == []
    body = paged.api.get(SESSIONS, params={"ending_before": paged.ids[0]}).json()
    assert body == {"object": "list", "data": [], "has_more": False}


@pytest.mark.parametrize("param", ["starting_after", "ending_before"])
@pytest.mark.parametrize("value", ["wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "nope", ""])
def test_a_cursor_that_is_not_one_of_your_sessions_is_refused(api, param, value):
    create(api)
    assert_error(api.get(SESSIONS, params={param: value}), 400, "parameter_invalid", param)


def test_both_cursors_together_are_refused(api):
    first, second = create(api), create(api)
    response = api.get(SESSIONS, params={"starting_after": second["id"], "ending_before": first["id"]})
    error = assert_error(response, 400, "parameter_invalid")
    assert error["param"] in {"starting_after", "ending_before"}


# -- filters: status, source, created ----------------------------------------------------------------


STATUSES = ["pending", "completed", "recovered", "cancelled", "failed", "expired"]
GROUP = {"group": "all"}
GROUP_FILTER = {"metadata[group]": "all"}


@pytest.fixture(scope="module")
def one_per_status(roost) -> SimpleNamespace:
    """Sessions in every status (stored by SQL where no endpoint produces it yet), by status."""
    organization = roost.new_org()
    with organization.client() as api:
        yield SimpleNamespace(api=api, ids=_one_per_status(roost, api))


def _one_per_status(roost, api) -> dict[str, list[str]]:
    # The same metadata on each, for the status filter combined with a metadata filter.
    sessions = {status: [create(api, metadata=GROUP)["id"]] for status in STATUSES}
    for status in ("completed", "recovered", "failed", "expired"):
        roost.sql(
            "UPDATE embedded_signup_sessions SET status = :status, deadline_at = NULL WHERE id = :id",
            status=status, id=sessions[status][0],
        )
    assert api.delete(f"{SESSIONS}/{sessions['cancelled'][0]}").status_code == 200
    # Pending but past its deadline: expired to every reader before any worker writes it down.
    overdue = create(api, metadata=GROUP)["id"]
    roost.sql("UPDATE embedded_signup_sessions SET expires_at = 1000, deadline_at = 1000 WHERE id = :id", id=overdue)
    sessions["expired"].append(overdue)
    # Meta's code arrived: no deadline any more, pending however old it is.
    processing = create(api, metadata=GROUP)["id"]
    roost.sql(
        "UPDATE embedded_signup_sessions SET expires_at = 1000, deadline_at = NULL, code_received_at = 500 WHERE id = :id",
        id=processing,
    )
    sessions["pending"].append(processing)
    return sessions


@pytest.mark.parametrize("status", STATUSES)
def test_status_filter_returns_exactly_the_sessions_in_that_status(one_per_status, status):
    body = one_per_status.api.get(SESSIONS, params={"status": status}).json()
    assert sorted(item["id"] for item in body["data"]) == sorted(one_per_status.ids[status])
    assert {item["status"] for item in body["data"]} == {status}


@pytest.mark.parametrize("status", STATUSES)
def test_status_and_metadata_filters_together_return_exactly_the_sessions_in_that_status(one_per_status, status):
    # Statuses were changed through the API (cancel) and by SQL (the others): the copy of the
    # status in the metadata index follows both (a trigger).
    api = one_per_status.api
    assert sorted(listed(api, status=status, **GROUP_FILTER)) == sorted(one_per_status.ids[status])
    assert listed(api, status=status, **{"metadata[group]": "other"}) == []


def test_the_metadata_index_copies_every_status_change(roost, api):
    session = create(api, metadata={"a": "1", "b": "2"})["id"]

    def indexed_statuses() -> set[str]:
        rows = roost.sql("SELECT status FROM session_metadata_values WHERE session_id = :id", id=session)
        return {row[0] for row in rows}

    assert indexed_statuses() == {"pending"}
    assert api.delete(f"{SESSIONS}/{session}").status_code == 200
    assert indexed_statuses() == {"cancelled"}
    roost.sql("UPDATE embedded_signup_sessions SET status = 'failed' WHERE id = :id", id=session)
    assert indexed_statuses() == {"failed"}


@pytest.mark.parametrize("status", ["open", "Pending", "", "pending,expired"])
def test_an_unknown_status_is_refused(api, status):
    assert_error(api.get(SESSIONS, params={"status": status}), 400, "parameter_invalid", "status")


def test_source_filter(roost, api):
    hosted = create(api)["id"]
    platform = create(api)["id"]
    # Platform-run attempts (SPEC 5.3) have no endpoint yet; mark one as such.
    roost.sql("UPDATE embedded_signup_sessions SET source = 'platform' WHERE id = :id", id=platform)
    assert listed(api, source="hosted") == [hosted]
    assert listed(api, source="platform") == [platform]


@pytest.mark.parametrize("source", ["web", "Hosted", ""])
def test_an_unknown_source_is_refused(api, source):
    assert_error(api.get(SESSIONS, params={"source": source}), 400, "parameter_invalid", "source")


@pytest.fixture(scope="module")
def three_seconds(roost) -> SimpleNamespace:
    """Sessions created at 12:00:00, 12:00:01 and 12:00:02 on 2024-01-15 (UTC), read-only."""
    organization = roost.new_org()
    with organization.client() as api:
        ids = [create(api)["id"] for _ in range(3)]
        for index, session_id in enumerate(ids):
            set_created_at(roost, session_id, T0 + index * 1000)
        yield SimpleNamespace(api=api, ids=ids)


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"created[gte]": "2024-01-15T12:00:01.000Z"}, [2, 1]),
        ({"created[gt]": "2024-01-15T12:00:01.000Z"}, [2]),
        ({"created[lt]": "2024-01-15T12:00:01.000Z"}, [0]),
        ({"created[lte]": "2024-01-15T12:00:01.000Z"}, [1, 0]),
        ({"created[gte]": "2024-01-15T12:00:00.001Z"}, [2, 1]),
        ({"created[gte]": "2024-01-15T12:00:01Z"}, [2, 1]),
        ({"created[gte]": "2024-01-15T13:00:01+01:00"}, [2, 1]),
        ({"created[gte]": "1705320001"}, [2, 1]),
        ({"created[gt]": "1705320001"}, [2]),
        ({"created[lt]": "1705320001"}, [0]),
        ({"created[lte]": "1705320001"}, [1, 0]),
        ({"created[gte]": "1705320001", "created[lt]": "1705320002"}, [1]),
        ({"created[gt]": "1705320000", "created[lte]": "2024-01-15T12:00:02.000Z"}, [2, 1]),
        ({"created[gte]": "1705320003"}, []),
    ],
)
def test_created_filters_accept_iso_8601_and_unix_seconds(three_seconds, params, expected):
    assert listed(three_seconds.api, **params) == [three_seconds.ids[index] for index in expected]


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", "", "12:00", "1705320001s", "0x10"])
@pytest.mark.parametrize("bound", ["gte", "gt", "lt", "lte"])
def test_a_bad_created_time_is_refused(api, bound, value):
    param = f"created[{bound}]"
    assert_error(api.get(SESSIONS, params={param: value}), 400, "parameter_invalid", param)


@pytest.mark.parametrize("name", ["status", "source", "created[gte]", "starting_after", "ending_before", "limit"])
def test_an_empty_parameter_is_one_problem(api, name):
    # `?status=` filters by nothing: refused, and reported once (not also "must be one of").
    error = assert_error(api.get(SESSIONS, params={name: ""}), 400, "parameter_invalid", name)
    assert error["errors"] == [{"param": name, "code": "parameter_invalid", "message": f"{name} must not be empty"}]


@pytest.mark.parametrize(
    "name, value", [("metadata[user\x00]", "u"), ("metadata[user]", "u\x00"), ("starting_after", "wss_\x00"), ("status", "\x00")]
)
def test_a_nul_character_in_the_query_is_refused_on_both_databases(api, name, value):
    error = assert_error(api.get(SESSIONS, params={name: value}), 400, "parameter_invalid", name)
    assert error["message"] == f"{name} must not contain the NUL character (U+0000)"


@pytest.mark.parametrize("name", ["foo", "created", "created[after]", "metadata", "Limit", "page"])
def test_an_unknown_query_parameter_is_refused(api, name):
    assert_error(api.get(SESSIONS, params={name: "1"}), 400, "parameter_unknown", name)


@pytest.mark.parametrize("name", ["status", "limit", "metadata[user]"])
def test_a_parameter_given_twice_is_refused(api, name):
    response = api.get(SESSIONS, params=[(name, "1"), (name, "2")])
    error = assert_error(response, 400, "parameter_invalid", name)
    assert error["message"] == f"{name} must be given once"


def test_more_than_five_metadata_filters_are_refused(api):
    create(api, metadata={f"k{index}": "v" for index in range(6)})
    five = {f"metadata[k{index}]": "v" for index in range(5)}
    assert len(listed(api, **five)) == 1
    error = assert_error(api.get(SESSIONS, params=five | {"metadata[k5]": "v"}), 400, "parameter_invalid", "metadata")
    assert error["message"] == "metadata takes at most 5 filters in one request"


# -- filters: metadata ---------------------------------------------------------------------------


def make_tagged(api) -> SimpleNamespace:
    return SimpleNamespace(
        api=api,
        typed=create(api, metadata={"n": 5, "b": True, "f": 1.5, "s": "hello", "name": "José"})["id"],
        text_five=create(api, metadata={"n": "5", "s": "hello"})["id"],
        six=create(api, metadata={"n": 6, "b": False, "s": "other"})["id"],
        nested=create(api, metadata={"obj": {"a": 1}, "arr": [1, 2], "s": "hello"})["id"],
        untagged=create(api)["id"],
    )


@pytest.fixture(scope="module")
def tagged(roost) -> SimpleNamespace:
    """Sessions with typed, textual and nested metadata (read-only)."""
    organization = roost.new_org()
    with organization.client() as api:
        yield make_tagged(api)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("s", "hello", ["nested", "text_five", "typed"]),
        ("s", "Hello", []),  # exact, case and all
        ("s", "hell", []),
        ("name", "José", ["typed"]),
        # numbers and booleans match as JSON writes them, and so does a string with that text
        ("n", "5", ["text_five", "typed"]),
        ("n", "5.0", []),
        ("n", "6", ["six"]),
        ("b", "true", ["typed"]),
        ("b", "false", ["six"]),
        ("b", "True", []),
        ("f", "1.5", ["typed"]),
        ("missing", "x", []),
    ],
)
def test_metadata_filter_matches_the_text_form_of_a_top_level_value(tagged, key, value, expected):
    assert sorted(listed(tagged.api, **{f"metadata[{key}]": value})) == sorted(getattr(tagged, name) for name in expected)


@pytest.mark.parametrize(
    "key, value",
    [("obj", '{"a":1}'), ("obj", '{"a": 1}'), ("obj", "[object Object]"), ("arr", "[1,2]"), ("arr", "[1, 2]"), ("arr", "1")],
)
def test_nested_objects_and_arrays_are_not_filterable(tagged, key, value):
    assert listed(tagged.api, **{f"metadata[{key}]": value}) == []


def test_several_metadata_filters_combine_with_and(tagged):
    api = tagged.api
    assert sorted(listed(api, **{"metadata[n]": "5", "metadata[s]": "hello"})) == sorted([tagged.typed, tagged.text_five])
    assert listed(api, **{"metadata[n]": "5", "metadata[b]": "true", "metadata[f]": "1.5"}) == [tagged.typed]
    assert listed(api, **{"metadata[n]": "6", "metadata[s]": "hello"}) == []


def test_metadata_filter_combines_with_status(api):
    tagged = make_tagged(api)
    assert api.delete(f"{SESSIONS}/{tagged.typed}").status_code == 200
    assert listed(api, **{"metadata[s]": "hello", "status": "cancelled"}) == [tagged.typed]
    assert sorted(listed(api, **{"metadata[s]": "hello", "status": "pending"})) == sorted(
        [tagged.text_five, tagged.nested]
    )


def test_metadata_keys_with_punctuation_are_filterable(api):
    session = create(api, metadata={"user.id": "u_1", "a b": "c", "x[y]": "z"})["id"]
    create(api, metadata={"user.id": "u_2"})
    assert listed(api, **{"metadata[user.id]": "u_1"}) == [session]
    assert listed(api, **{"metadata[a b]": "c"}) == [session]
    assert listed(api, **{"metadata[x[y]]": "z"}) == [session]


def test_a_metadata_filtered_list_is_newest_first_and_paginates(roost, api):
    matching = [create(api, metadata={"team": "a"})["id"] for _ in range(5)]
    for _ in range(2):
        create(api, metadata={"team": "b"})
    for index, session_id in enumerate(matching):
        set_created_at(roost, session_id, T0 + index // 2)  # pairs share a millisecond
    expected = sorted(matching, key=lambda session_id: (T0 + matching.index(session_id) // 2, session_id), reverse=True)

    seen, cursor = [], None
    while True:
        params = {"metadata[team]": "a", "limit": 2} | ({"starting_after": cursor} if cursor else {})
        body = api.get(SESSIONS, params=params).json()
        seen += [item["id"] for item in body["data"]]
        if not body["has_more"]:
            break
        cursor = seen[-1]
    assert seen == expected

    back = api.get(SESSIONS, params={"metadata[team]": "a", "limit": 2, "ending_before": expected[-1]}).json()
    assert [item["id"] for item in back["data"]] == expected[-3:-1]
    assert back["has_more"] is True
