"""roost.meta.nodes: what a Graph read asks for is exactly what the rest of Roost can read."""

import dataclasses

import pytest

from roost.meta.nodes import BusinessPhoneNumber, OwnerBusiness, WhatsAppBusinessAccount


def test_the_fields_asked_for_are_the_fields_declared():
    assert WhatsAppBusinessAccount.graph_fields() == "id,name,owner_business_info{id,name}"
    assert BusinessPhoneNumber.graph_fields().split(",") == [field.name for field in dataclasses.fields(BusinessPhoneNumber)]


def test_an_answer_keeps_only_the_declared_fields():
    waba = WhatsAppBusinessAccount.from_graph(
        {"id": "1", "name": "Acme", "currency": "USD", "owner_business_info": {"id": "2", "name": "Acme Inc", "x": 1}}
    )

    assert waba == WhatsAppBusinessAccount(id="1", name="Acme", owner_business_info=OwnerBusiness(id="2", name="Acme Inc"))
    with pytest.raises(AttributeError):
        waba.currency  # noqa: B018 - never asked for, so never readable


def test_a_field_meta_left_out_reads_as_nothing():
    phone = BusinessPhoneNumber.from_graph({"id": "5", "display_phone_number": "+1 631-555-0100"})

    assert phone.code_verification_status is None and phone.status is None
    assert phone.is_on_biz_app is False
    assert WhatsAppBusinessAccount.from_graph({"id": "1"}).owner_business_info is None
