"""One `GoDecodeError` for every value Go would refuse, whichever layer decodes it."""

from __future__ import annotations

import pytest
from bson import ObjectId

from usermgmt_pipeline.case.document_fields import go_int
from usermgmt_pipeline.case.users import UserDecodeError, decode_user
from usermgmt_pipeline.errors import CaseDataError
from usermgmt_pipeline.go_unmarshal import GoDecodeError, parse_json_document
from usermgmt_pipeline.studyengine import Participant, Report


def test_the_data_layer_and_the_study_engine_raise_the_same_decode_error() -> None:
    with pytest.raises(GoDecodeError) as field:
        go_int({"createdAt": "yesterday"}, "createdAt", "timestamps.createdAt")
    with pytest.raises(GoDecodeError) as participant:
        Participant.from_bson({"modifiedAt": "yesterday"})
    with pytest.raises(GoDecodeError) as report:
        Report.from_json(parse_json_document('{"timestamp": "yesterday"}'), "report")
    assert str(field.value) == "timestamps.createdAt is str, expected an integer"
    assert "modifiedAt" in str(participant.value)
    assert "report.timestamp" in str(report.value)
    for caught in (field.value, participant.value, report.value):
        assert isinstance(caught, CaseDataError)
        assert isinstance(caught, ValueError)


def test_a_user_field_go_cannot_decode_names_the_user_and_the_field() -> None:
    user_id = ObjectId()
    with pytest.raises(UserDecodeError) as caught:
        decode_user({"_id": user_id, "timestamps": {"createdAt": "yesterday"}})
    assert str(caught.value) == f"user {user_id}: timestamps.createdAt is str, expected an integer"
