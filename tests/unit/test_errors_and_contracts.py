"""Resident ID numbers, contract validation and the RPC error round trip."""

from datetime import date

import pytest
from nameko.exceptions import serialize

from hqcore import errors, idnumber
from hqcore.contracts import ContractError, load_event_payload, load_rpc_request

VALID_ID = "11010519491231002X"


def make_id(first17: str) -> str:
    return first17 + idnumber.check_digit(first17)


def application(**changes) -> dict:
    person = {"name": "王秀英", "id_number": VALID_ID, "relationship": "self"}
    body = {
        "program": "dibao",
        "street_code": "shaogongzhuang",
        "community": "前园社区",
        "applicant": dict(person),
        "members": [dict(person)],
    }
    body.update(changes)
    return body


def test_check_digit_follows_gb_11643():
    assert idnumber.check_digit("11010519491231002") == "X"
    assert idnumber.problem(VALID_ID) is None
    assert idnumber.problem(VALID_ID.lower()) is None
    assert idnumber.problem(make_id("12010619600101001")) is None


@pytest.mark.parametrize(
    "value, reason",
    [
        ("110105194912310021", "check digit"),
        ("11010519491331002X", "impossible date"),
        ("1101051949123100", "18 characters"),
        ("01010519491231002X", "18 characters"),
        ("", "18 characters"),
    ],
)
def test_invalid_id_numbers_say_why(value, reason):
    assert reason in idnumber.problem(value)


@pytest.mark.parametrize(
    "value, reason",
    [
        (make_id("99999919600101001"), "unknown region code 999999"),
        (make_id("10010619600101001"), "unknown region code 100106"),
        (make_id("72010619600101001"), "unknown region code 720106"),
        (make_id("12010618000101001"), "date of birth before 1900"),
        (make_id("12010620990101001"), "date of birth in the future"),
        (make_id("12010620240229001"), None),
        (make_id("82010619600101001"), None),
        (make_id("65010619000101001"), None),
    ],
)
def test_SEC9_id_numbers_need_a_province_and_a_birth_date_from_1900_to_today(value, reason):
    found = idnumber.problem(value, today=date(2024, 3, 1))
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


def test_SEC9_the_future_is_judged_against_the_given_day():
    born = make_id("12010620240302001")
    assert idnumber.problem(born, today=date(2024, 3, 1)) == "date of birth in the future"
    assert idnumber.problem(born, today=date(2024, 3, 2)) is None


def test_mask_keeps_region_and_last_two():
    assert idnumber.mask(VALID_ID) == "110105**********2X"
    assert idnumber.mask("") == ""


def test_valid_application_loads():
    loaded = load_rpc_request("intake.submit_application", application())
    assert loaded["applicant"]["id_number"] == VALID_ID
    assert loaded["near_relative"] is False


@pytest.mark.parametrize(
    "changes, field",
    [
        (
            {
                "applicant": {
                    "name": "王秀英",
                    "id_number": "110105194912310021",
                    "relationship": "self",
                }
            },
            "applicant.id_number",
        ),
        (
            {
                "members": [
                    {"name": "王秀英", "id_number": VALID_ID, "relationship": "self"},
                    {"name": "李强", "id_number": "120106196001010010", "relationship": "spouse"},
                ]
            },
            "members.1.id_number",
        ),
        ({"program": "pension"}, "program"),
        ({"program": None}, "program"),
        ({"members": []}, "members"),
        (
            {
                "members": [
                    {
                        "name": "李强",
                        "id_number": make_id("12010619600101001"),
                        "relationship": "spouse",
                    }
                ]
            },
            "members",
        ),
    ],
)
def test_contract_violation_names_the_field(changes, field):
    with pytest.raises(errors.ValidationFailed) as raised:
        load_rpc_request("intake.submit_application", application(**changes))
    assert raised.value.field == field
    assert raised.value.message.startswith(f"{field}: ")
    assert raised.value.http_status == 400


def test_missing_field_is_named():
    body = application()
    del body["community"]
    with pytest.raises(errors.ValidationFailed) as raised:
        load_rpc_request("intake.submit_application", body)
    assert raised.value.field == "community"


def test_event_payload_violation_is_a_contract_error_under_payload():
    with pytest.raises(ContractError) as raised:
        load_event_payload("deadline.breached", 1, {"deadline_id": "d1"})
    assert raised.value.code == "contract_violation"
    assert raised.value.field.startswith("payload.")


def test_unknown_event_version_is_refused():
    with pytest.raises(ContractError) as raised:
        load_event_payload("application.accepted", 99, {})
    assert raised.value.field == "event_type"


@pytest.mark.parametrize(
    "cls",
    [
        errors.ValidationFailed,
        errors.NotFound,
        errors.Conflict,
        errors.Forbidden,
        errors.Unauthenticated,
        errors.ServiceUnavailable,
        errors.UpstreamTimeout,
        errors.InternalError,
    ],
)
def test_domain_error_survives_the_rpc_wire(cls):
    sent = cls(
        "这户已有在办案件",
        field="applicant.id_number",
        code="duplicate_open_case",
        details={"case_no": "SGZ-2024-0001"},
    )
    wire = serialize(sent)
    received = errors.from_remote(wire["exc_type"], wire["value"])
    assert type(received) is cls
    assert received.to_dict() == sent.to_dict()
    assert received.http_status == cls.http_status


@pytest.mark.parametrize(
    "sent, expected",
    [
        (
            errors.CaseNotFound("c-9", "publicity"),
            {
                "code": "case_not_found",
                "field": "case_id",
                "message": "publicity has no record of case c-9",
            },
        ),
        (
            errors.InvalidState("decide", "awaiting_review", ["awaiting_decision"]),
            {
                "code": "invalid_state",
                "field": "case_id",
                "message": "decide is not possible while the case is awaiting_review",
                "details": {"status": "awaiting_review", "allowed": ["awaiting_decision"]},
            },
        ),
    ],
)
def test_the_two_normalised_errors_build_their_parts_and_survive_the_wire(sent, expected):
    assert sent.to_dict() == expected
    assert sent.http_status == (404 if expected["code"] == "case_not_found" else 409)
    wire = serialize(sent)
    received = errors.from_remote(wire["exc_type"], wire["value"])
    assert type(received) is type(sent)
    assert received.to_dict() == expected
    assert received.http_status == sent.http_status
    assert isinstance(
        received, errors.NotFound if expected["code"] == "case_not_found" else errors.Conflict
    )


def test_default_code_survives_the_wire():
    wire = serialize(errors.NotFound("no such case", field="case_id"))
    received = errors.from_remote(wire["exc_type"], wire["value"])
    assert (received.code, received.field, received.message) == (
        "not_found",
        "case_id",
        "no such case",
    )


def test_unknown_remote_error_becomes_internal_error():
    wire = serialize(KeyError("boom"))
    received = errors.from_remote(wire["exc_type"], wire["value"])
    assert isinstance(received, errors.InternalError)
    assert received.code == "internal_error"
    assert received.http_status == 500
    assert "boom" not in received.message


def test_non_json_value_keeps_its_text():
    received = errors.from_remote("Conflict", "plain text")
    assert isinstance(received, errors.Conflict)
    assert received.message == "plain text"
