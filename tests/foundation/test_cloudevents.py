from __future__ import annotations

import pytest
from pao_common.cloudevents import CloudEvent, decode_headers, from_kafka
from pao_common.errors import InvalidMessage
from pao_common.messages import CancelRequest, Requester, parse_message, to_cloudevent


def test_binary_mode_round_trip_keeps_attributes_and_data() -> None:
    msg = CancelRequest(request_id="r-1", by=Requester(id="alice", teams=("web",)), reason="typo")
    event = to_cloudevent(msg, source="pao/gateway", subject="r-1")
    headers = decode_headers(event.headers())
    assert headers["ce_type"] == "pao.request.cancel"
    assert headers["ce_subject"] == "r-1"
    assert event.key() == b"r-1"
    back = from_kafka(headers, event.value())
    assert back.id == event.id and back.time == event.time
    assert parse_message(back) == msg


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ({}, b"{}", "missing CloudEvents header"),
        (
            {"ce_specversion": "0.3", "ce_id": "1", "ce_type": "x", "ce_source": "s"},
            b"{}",
            "specversion",
        ),
        (
            {"ce_specversion": "1.0", "ce_id": "1", "ce_type": "x", "ce_source": "s"},
            b"{not json",
            "not JSON",
        ),
        (
            {"ce_specversion": "1.0", "ce_id": "1", "ce_type": "x", "ce_source": "s"},
            b"[1]",
            "JSON object",
        ),
        (
            {
                "ce_specversion": "1.0",
                "ce_id": "1",
                "ce_type": "x",
                "ce_source": "s",
                "ce_time": "yesterday",
            },
            b"{}",
            "ce_time",
        ),
    ],
)
def test_broken_records_are_rejected_with_a_reason(
    headers: dict[str, str], value: bytes, reason: str
) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        from_kafka(headers, value)


def test_unknown_type_and_invalid_body_name_what_is_wrong() -> None:
    with pytest.raises(InvalidMessage, match=r"unknown ce_type 'pao\.nope'"):
        parse_message(CloudEvent(type="pao.nope", source="t"))
    with pytest.raises(InvalidMessage, match="by: Field required"):
        parse_message(CloudEvent(type="pao.request.cancel", source="t", data={"request_id": "r"}))
