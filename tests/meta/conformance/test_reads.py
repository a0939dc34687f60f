"""The simulator's reads as Meta answers them, beyond the calls Roost makes: default fields,
nested selection, paging. Each answer is held against Meta's description."""

import httpx
import pytest

from tests.meta.conformance.meta import conformance_problems
from tests.meta.conformance.recording import exchange_of
from tests.meta.helpers import GRAPH_VERSION, sim_app, sim_signup


@pytest.fixture
def graph(roost):
    with httpx.Client(base_url=f"{roost.base_url}/_sim/graph/{GRAPH_VERSION}", timeout=30) as client:
        yield client


def test_reads_answer_their_defaults_selections_and_pages_as_meta_describes(api, graph):
    app = sim_app(api)
    first = sim_signup(api)
    second = sim_signup(api, extras={"setup": {"whatsAppBusinessAccount": {"ids": first["waba_id"]}}})
    system = {"Authorization": f"Bearer {app['system_user_token']}"}
    waba, phone = first["waba_id"], first["phone_number_id"]

    reads = {
        "waba defaults": graph.get(f"/{waba}", headers=system),
        "waba selection": graph.get(f"/{waba}", params={"fields": "name,owner_business_info{id},currency"}, headers=system),
        "waba nested": graph.get(f"/{waba}", params={"fields": "phone_numbers.limit(1){id,status}"}, headers=system),
        "phone defaults": graph.get(f"/{phone}", headers=system),
        "phone selection": graph.get(f"/{phone}", params={"fields": "status,throughput{level},name_status"}, headers=system),
        "list defaults": graph.get(f"/{waba}/phone_numbers", headers=system),
        "list first page": graph.get(f"/{waba}/phone_numbers", params={"limit": "1", "fields": "id"}, headers=system),
    }
    following = reads["list first page"].json()["paging"]["next"]
    reads["list last page"] = graph.get(following, headers=system)
    for response in reads.values():
        response.read()

    assert {name: response.status_code for name, response in reads.items()} == dict.fromkeys(reads, 200)
    assert conformance_problems([exchange_of(response) for response in reads.values()]) == []
    # Two numbers, one a page: `next` on the first page only, `previous` on the last only.
    assert reads["list first page"].json()["data"] == [{"id": second["phone_number_id"]}]
    assert set(reads["list first page"].json()["paging"]) == {"cursors", "next"}
    assert reads["list last page"].json()["data"] == [{"id": phone}]
    assert set(reads["list last page"].json()["paging"]) == {"cursors", "previous"}
    nested = reads["waba nested"].json()["phone_numbers"]
    assert set(nested["paging"]) == {"cursors", "next"}
    rest = graph.get(nested["paging"]["next"], headers=system)  # the same selection, the next number
    assert rest.json()["data"] == [{"status": "PENDING", "id": phone}], rest.text
