"""kit.objects: one model per API object renders it in the model's field order, as its
annotations say, and what it renders validates against the model it documents."""

from types import SimpleNamespace
from typing import Annotated, Any, Literal

import pytest

from roost.kit.objects import GIVEN, WHEN_GIVEN, ApiObject, From, OptionalTimestamp, Timestamp
from roost.sessions.schemas import EmbeddedSignupSession


class Thing(ApiObject):
    id: str
    object: Literal["thing"] = "thing"
    secret: Annotated[str | None, WHEN_GIVEN] = None
    status: Annotated[str, GIVEN]
    tags: Annotated[list[str], From("tags_", empty=list)]
    created_at: Timestamp
    done_at: OptionalTimestamp


ROW = SimpleNamespace(id="thg_1", tags_=None, created_at=1_705_321_800_123, done_at=None)


def test_render_follows_the_models_fields_and_their_annotations():
    body = Thing.render(ROW, status="open")
    assert body == {
        "id": "thg_1",
        "object": "thing",
        "status": "open",
        "tags": [],
        "created_at": "2024-01-15T12:30:00.123Z",
        "done_at": None,
    }
    assert list(body) == [name for name in Thing.model_fields if name != "secret"]
    Thing.model_validate(body)


def test_a_field_when_given_takes_its_place_and_only_computed_fields_are_given():
    body = Thing.render(ROW, status="open", secret="s3cret")
    assert list(body)[:4] == ["id", "object", "secret", "status"]
    assert body["secret"] == "s3cret"
    assert "secret" not in Thing.render(ROW, status="open", secret=None)
    with pytest.raises(TypeError, match="id"):
        Thing.render(ROW, status="open", id="thg_2")  # read from the row: giving it is a mistake


def test_a_computed_field_must_be_given():
    with pytest.raises(TypeError, match="status"):
        Thing.render(ROW)


def session_row(**changes: Any) -> SimpleNamespace:
    row = dict(
        id="wss_abc", expires_at=1_705_321_800_000, livemode=False, source="hosted", created_at=1_705_321_000_000,
        started_at=None, code_received_at=None, completed_at=None, cancelled_at=None, redirect_uri=None, state=None,
        metadata_=None, prefill=None, locale=None, coexistence=False, solution_id=None, waba_id=None, business_id=None,
        phone_number_id=None, business_profile_id=None, last_step=None, error=None, provisioning=None,
    )  # fmt: skip
    return SimpleNamespace(**{**row, **changes})


def test_the_session_object_validates_against_its_own_schema_with_and_without_its_url():
    plain = EmbeddedSignupSession.render(session_row(), status="pending")
    assert "url" not in plain and plain["metadata"] == {} and plain["provisioning"] == []
    EmbeddedSignupSession.model_validate(plain)
    with_url = EmbeddedSignupSession.render(session_row(), status="pending", url="https://roost.example/embed/connect?token=t")
    assert list(with_url)[:3] == ["id", "object", "url"]
    EmbeddedSignupSession.model_validate(with_url)
