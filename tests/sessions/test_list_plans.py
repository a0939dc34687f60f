"""How SQLite runs the list statement: every filter is an index range, never a table scan.

PostgreSQL is left to the benchmark (bench/plans.py, a million sessions): its planner chooses
by table statistics, which a test database of a few rows does not have.
"""

import sys
from pathlib import Path

import pytest

from roost.kit import pagination
from roost.kit.timeutil import now_ms
from roost.organizations.service import Caller
from roost.sessions import service
from roost.sessions.state import SessionStatus
from tests.support import SESSIONS

# The benchmark's own capture and reading of the plan, so both check the same thing.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from plans import Plan, capture_list_sql, explain_sqlite  # noqa: E402


@pytest.fixture(scope="module")
def planned(roost, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL plans are checked by the benchmark, at a million sessions")
    organization = roost.new_org()
    with organization.client() as api:
        response = api.post(SESSIONS, json={"metadata": {"plan": "free", "team": "a"}})
        assert response.status_code == 201, response.text
    key_id = roost.sql("SELECT id FROM admin_keys WHERE organization_id = :org", org=organization.id)[0][0]
    return roost, Caller(key_id=key_id, organization_id=organization.id, livemode=False), response.json()["id"]


def list_plan(roost, caller: Caller, filters: service.SessionFilters, page: pagination.Page) -> Plan:
    """EXPLAIN QUERY PLAN of the statement list_sessions sends for these filters."""

    async def run() -> Plan:
        engine = roost.runtime.engine
        statement, parameters = await capture_list_sql(engine, caller, filters, page, now_ms())
        return await explain_sqlite(engine, statement, parameters, repeat=1)

    return roost.run(run())


SHAPES = {
    "no filter": {},
    "status=completed": {"status": SessionStatus.COMPLETED},
    "status=pending": {"status": SessionStatus.PENDING},
    "status=expired": {"status": SessionStatus.EXPIRED},
    "source": {"source": "hosted"},
    "created range": {"created_gte": 1, "created_lt": 2**41},
    "metadata": {"metadata": {"plan": "free"}},
    "two metadata keys": {"metadata": {"plan": "free", "team": "a"}},
    "metadata and status=completed": {"metadata": {"plan": "free"}, "status": SessionStatus.COMPLETED},
    "metadata and status=pending": {"metadata": {"plan": "free"}, "status": SessionStatus.PENDING},
    "metadata and status=expired": {"metadata": {"plan": "free"}, "status": SessionStatus.EXPIRED},
}


@pytest.mark.parametrize("cursor", [False, True], ids=["first page", "after a cursor"])
@pytest.mark.parametrize("shape", SHAPES)
def test_no_list_statement_scans_a_table(planned, shape, cursor):
    roost, caller, session_id = planned
    page = pagination.Page(limit=20, starting_after=session_id if cursor else None)
    plan = list_plan(roost, caller, service.SessionFilters(**SHAPES[shape]), page)
    assert plan.full_scans == [], plan.plan


@pytest.mark.parametrize("status", [SessionStatus.COMPLETED, SessionStatus.PENDING, SessionStatus.EXPIRED])
def test_a_metadata_filter_with_a_status_filter_is_one_range_of_the_metadata_status_index(planned, status):
    roost, caller, _ = planned
    filters = service.SessionFilters(metadata={"plan": "free"}, status=status)
    plan = list_plan(roost, caller, filters, pagination.Page(limit=20)).plan
    driving = [line for line in plan if "session_metadata_values" in line]
    assert driving and all("ix_session_metadata_status" in line for line in driving), plan
