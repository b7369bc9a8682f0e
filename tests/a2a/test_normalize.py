"""Unit tests for `molecule.a2a.normalize`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from molecule.a2a.normalize import (
    expires_in_seconds,
    extract_message_id,
    normalize_a2a_payload,
    normalize_a2a_request,
)
from molecule.errors import BadRequest, MoleculeError

# The original's exact bodies, spelled out here rather than imported so that a drift in the
# module's constants fails these tests.
INVALID_JSON_BODY = {"error": "invalid JSON"}
CONTENT_TYPE_BODY = {
    "error": "invalid params.message.content type",
    "hint": "content must be a string (v0.2 compat) or omitted in favour of parts (v0.3)",
}
MISSING_PARTS_BODY = {
    "error": "params.message must contain either 'parts' (v0.3) or 'content' (v0.2 compat)",
    "hint": 'v0.3 example: {"parts":[{"kind":"text","text":"..."}]}',
}


def norm(body: Any) -> tuple[dict[str, Any], str]:
    return normalize_a2a_payload(json.dumps(body, ensure_ascii=False).encode("utf-8"))


def rejected(raw: bytes) -> dict[str, Any]:
    with pytest.raises(BadRequest) as excinfo:
        normalize_a2a_payload(raw)
    assert excinfo.value.status == 400
    assert isinstance(excinfo.value, MoleculeError)
    return excinfo.value.body()


def envelope(message: Any, **params: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "req-1",
        "method": "message/send",
        "params": {"message": message, **params},
    }


def is_uuid4(value: object) -> bool:
    return (
        isinstance(value, str) and uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    )


TEXT = [{"kind": "text", "text": "hi"}]


# --- the envelope -----------------------------------------------------------------------


def test_no_jsonrpc_key_is_wrapped_and_other_top_level_keys_dropped() -> None:
    params = {"message": {"role": "user", "messageId": "m1", "parts": TEXT}}
    out, method = norm({"method": "message/send", "params": params, "agent_id": "x", "id": 7})
    assert list(out) == ["jsonrpc", "id", "method", "params"]
    assert out["jsonrpc"] == "2.0"
    assert is_uuid4(out["id"])  # a sender's id without a jsonrpc key is not kept
    assert out["method"] == method == "message/send"
    assert out["params"] == params


def test_wrapped_ids_are_fresh_each_time() -> None:
    body = {"method": "message/send", "params": {"message": {"messageId": "m", "parts": TEXT}}}
    assert norm(body)[0]["id"] != norm(body)[0]["id"]


def test_wrapping_without_method_or_params_yields_nulls() -> None:
    # molecule-cli `agent send` posts {agent_id, message}: not A2A at all.
    out, method = norm({"agent_id": "a1", "message": "hello"})
    assert out == {"jsonrpc": "2.0", "id": out["id"], "method": None, "params": None}
    assert method == ""


def test_non_string_method_is_kept_in_envelope_but_returned_as_empty() -> None:
    out, method = norm({"jsonrpc": "2.0", "id": 1, "method": 42, "params": {}})
    assert out["method"] == 42
    assert method == ""


def test_existing_envelope_is_kept_as_is_apart_from_message_fixes() -> None:
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 99,
        "method": "message/send",
        "params": {
            "message": {"role": "user", "content": "hello", "metadata": {"k": [1, 2]}},
            "metadata": {"history": []},
            "expires_in_seconds": 60,
        },
        "x-extra": {"kept": True},
    }
    out, method = norm(body)
    assert method == "message/send"
    message = out["params"]["message"]
    assert is_uuid4(message["messageId"])
    assert message == {
        "role": "user",
        "metadata": {"k": [1, 2]},
        "messageId": message["messageId"],
        "parts": [{"kind": "text", "text": "hello"}],
    }
    body["params"]["message"] = message
    assert out == body


@pytest.mark.parametrize("version", ["2.0", "1.0", None])
def test_any_jsonrpc_key_counts_as_an_envelope(version: Any) -> None:
    body = {"jsonrpc": version, "method": "message/send", "params": {}}
    assert norm(body)[0] == body  # no id is added to an existing envelope either


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": "t", "method": "tasks/get", "params": {"id": "task-1"}},
        {"jsonrpc": "2.0", "id": "t", "method": "tasks/cancel", "params": {"id": "task-1"}},
        {"jsonrpc": "2.0", "id": None, "method": "signals/x", "params": {"drain_seconds": 20}},
        {"jsonrpc": "2.0", "id": "t", "method": "tasks/list"},
        {"jsonrpc": "2.0", "id": "t", "method": "message/send", "params": {"message": "hi"}},
        {"jsonrpc": "2.0", "id": "t", "method": "message/send", "params": {"message": None}},
        {"jsonrpc": "2.0", "id": "t", "method": "message/send", "params": {"message": [1]}},
        {"jsonrpc": "2.0", "id": "t", "method": "message/send", "params": ["positional"]},
        {"jsonrpc": "2.0", "id": "t", "method": "message/send", "params": None},
    ],
    ids=[
        "tasks_get",
        "tasks_cancel",
        "signal",
        "no_params",
        "message_string",
        "message_null",
        "message_list",
        "params_list",
        "params_null",
    ],
)
def test_params_without_a_message_object_pass_through_untouched(body: dict[str, Any]) -> None:
    out, method = norm(body)
    assert out == body
    assert method == body["method"]


def test_tasks_get_without_envelope_is_only_wrapped() -> None:
    out, method = norm({"method": "tasks/get", "params": {"id": "task-1"}})
    assert method == "tasks/get"
    assert out["params"] == {"id": "task-1"}


# --- messageId --------------------------------------------------------------------------


def test_existing_message_id_is_kept() -> None:
    out, _ = norm(envelope({"role": "user", "messageId": "keep-me", "parts": TEXT}))
    assert out["params"]["message"]["messageId"] == "keep-me"


def test_missing_message_id_is_generated() -> None:
    out, _ = norm(envelope({"role": "user", "parts": TEXT}))
    assert is_uuid4(out["params"]["message"]["messageId"])


@pytest.mark.parametrize("value", ["", None, 123])
def test_message_id_key_presence_is_what_counts(value: Any) -> None:
    # As in the original (a Go map lookup): only a missing key is filled in.
    out, _ = norm(envelope({"messageId": value, "parts": TEXT}))
    assert out["params"]["message"]["messageId"] == value


# --- content -> parts -------------------------------------------------------------------


def test_string_content_becomes_one_text_part() -> None:
    out, _ = norm(envelope({"role": "user", "messageId": "m", "content": "hello world"}))
    assert out["params"]["message"]["parts"] == [{"kind": "text", "text": "hello world"}]
    assert "content" not in out["params"]["message"]


def test_empty_string_content_becomes_an_empty_text_part() -> None:
    out, _ = norm(envelope({"messageId": "m", "content": ""}))
    assert out["params"]["message"]["parts"] == [{"kind": "text", "text": ""}]


def test_list_content_is_used_as_parts_verbatim() -> None:
    content = [{"type": "text", "text": "a"}, {"kind": "text", "text": "b"}, "odd", 3]
    out, _ = norm(envelope({"messageId": "m", "content": content}))
    assert out["params"]["message"]["parts"] == content
    assert "content" not in out["params"]["message"]


def test_empty_list_content_is_accepted_as_empty_parts() -> None:
    out, _ = norm(envelope({"messageId": "m", "content": []}))
    assert out["params"]["message"]["parts"] == []


def test_parts_win_and_content_is_left_alone_when_both_present() -> None:
    # `content` is only deleted after a conversion; with `parts` present nothing is converted.
    message = {"messageId": "m", "parts": TEXT, "content": 42}
    out, _ = norm(envelope(message))
    assert out["params"]["message"] == message


def test_null_parts_counts_as_present() -> None:
    message = {"messageId": "m", "parts": None}
    assert norm(envelope(message))[0]["params"]["message"] == message


def test_part_keys_and_role_are_never_rewritten() -> None:
    parts = [{"type": "text", "text": "legacy"}, {"text": "v1.0"}, {"kind": "file", "file": {}}]
    for role in ("assistant", "ROLE_USER", None):
        message: dict[str, Any] = {"messageId": "m", "parts": parts}
        if role is not None:
            message["role"] = role
        out, _ = norm(envelope(message))
        assert out["params"]["message"] == message


def test_v1_proto_json_message_is_untouched() -> None:
    body = {
        "jsonrpc": "2.0",
        "id": "1",
        "method": "SendMessage",
        "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]}},
    }
    out, method = norm(body)
    assert out == body
    assert method == "SendMessage"


# --- the exact 400 bodies ---------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [True, False, 42, 0, 4.2, None, {"kind": "text", "text": "x"}],
    ids=["true", "false", "int", "zero", "float", "null", "object"],
)
def test_invalid_content_type_body(content: Any) -> None:
    raw = json.dumps(envelope({"messageId": "m", "content": content})).encode()
    assert rejected(raw) == CONTENT_TYPE_BODY


def test_neither_parts_nor_content_body() -> None:
    raw = json.dumps(envelope({"role": "user", "messageId": "m"})).encode()
    assert rejected(raw) == MISSING_PARTS_BODY


def test_neither_parts_nor_content_is_rejected_without_envelope_too() -> None:
    raw = json.dumps({"method": "message/send", "params": {"message": {}}}).encode()
    assert rejected(raw) == MISSING_PARTS_BODY


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \n\t",
        b"{",
        b'{"jsonrpc":"2.0",',
        b"hello",
        b"{} trailing",
        b"{'single': 'quotes'}",
        b'{"a": 1,}',
        b"[]",
        b'[{"jsonrpc":"2.0"}]',
        b"null",
        b"true",
        b"42",
        b'"a string"',
        b'{"n": NaN}',
        b'{"n": Infinity}',
        b'{"n": -Infinity}',
        b'\xef\xbb\xbf{"method": "message/send"}',
        b'{"text": "\xff\xfe"}',
        '{"method": "message/send"}'.encode("utf-16"),
        '{"method": "message/send"}'.encode("utf-32-le"),
        b'{"text": "raw\x01control"}',
        b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    ],
    ids=[
        "empty",
        "whitespace",
        "open_brace",
        "truncated",
        "not_json",
        "trailing_garbage",
        "single_quotes",
        "trailing_comma",
        "array",
        "array_of_envelope",
        "null",
        "true",
        "number",
        "string",
        "nan",
        "infinity",
        "neg_infinity",
        "utf8_bom",
        "invalid_utf8",
        "utf16",
        "utf32",
        "control_char",
        "absurd_nesting",
    ],
)
def test_invalid_json_body(raw: bytes) -> None:
    body = rejected(raw)
    assert body["error"] == INVALID_JSON_BODY["error"]
    # Limits on otherwise valid JSON say which one was hit; malformed JSON says no more.
    assert set(body) <= {"error", "detail"}


def test_a2a_bodies_get_the_platform_input_bounds() -> None:
    deep = b'{"params":' * 100 + b"{}" + b"}" * 100
    assert rejected(deep) == {
        "error": "invalid JSON",
        "detail": "JSON nested deeper than 64 levels",
    }
    part = b'{"kind":"text","text":"a\\u0000b"}'
    nul = b'{"method":"message/send","params":{"message":{"parts":[' + part + b"]}}}"
    assert rejected(nul) == {"error": "invalid JSON", "detail": "text may not contain NUL"}


# --- unicode ----------------------------------------------------------------------------


def test_unicode_round_trips() -> None:
    text = "你好 — 안녕 — مرحبا — cafe\u0301 — 👩‍💻🚀 — \U0001f600"
    out, _ = norm(envelope({"messageId": "m", "content": text}))
    assert out["params"]["message"]["parts"][0]["text"] == text
    # And the forwarded bytes carry the same characters.
    forwarded = json.dumps(out, ensure_ascii=False).encode("utf-8")
    assert json.loads(forwarded)["params"]["message"]["parts"][0]["text"] == text


def test_escaped_unicode_and_surrogate_pairs_decode() -> None:
    raw = (
        b'{"jsonrpc":"2.0","id":"1","method":"message/send","params":{"message":'
        b'{"messageId":"m","content":"\\u4f60\\u597d \\ud83d\\ude00"}}}'
    )
    out, _ = normalize_a2a_payload(raw)
    assert out["params"]["message"]["parts"][0]["text"] == "你好 \U0001f600"


def test_lone_surrogates_become_replacement_chars_and_stay_forwardable() -> None:
    raw = (
        b'{"method":"message/send","params":{"message":'
        b'{"messageId":"m","\\udc00k":1,"parts":[{"kind":"text","text":"a\\ud800b\\udfff"}]}}}'
    )
    out, _ = normalize_a2a_payload(raw)
    message = out["params"]["message"]
    assert message["parts"][0]["text"] == "a\ufffdb\ufffd"
    assert "\ufffdk" in message
    json.dumps(out, ensure_ascii=False).encode("utf-8")  # must not raise


def test_escaped_backslash_before_u_is_not_a_surrogate() -> None:
    raw = b'{"method":"m","params":{"message":{"messageId":"x","content":"\\\\ud800"}}}'
    out, _ = normalize_a2a_payload(raw)
    assert out["params"]["message"]["parts"][0]["text"] == "\\ud800"


# --- extract_message_id -----------------------------------------------------------------


def test_extract_message_id_from_a_normalised_envelope() -> None:
    out, _ = norm({"method": "message/send", "params": {"message": {"content": "hi"}}})
    assert extract_message_id(out) == out["params"]["message"]["messageId"]
    assert is_uuid4(extract_message_id(out))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"params": {"message": {"messageId": "abc"}}}, "abc"),
        ({"params": {"message": {"messageId": ""}}}, None),
        ({"params": {"message": {"messageId": 123}}}, None),
        ({"params": {"message": {"messageId": None}}}, None),
        ({"params": {"message": {}}}, None),
        ({"params": {"message": "text"}}, None),
        ({"params": {}}, None),
        ({"params": None}, None),
        ({"params": ["x"]}, None),
        ({}, None),
    ],
)
def test_extract_message_id(env: dict[str, Any], expected: str | None) -> None:
    assert extract_message_id(env) == expected


# --- expires_in_seconds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (300, 300),
        (1, 1),
        (1.9, 1),
        (59.999, 59),
        (1e6, 1_000_000),
        (0, None),
        (0.5, None),
        (0.0, None),
        (-1, None),
        (-30.5, None),
        (True, None),
        (False, None),
        ("300", None),
        (None, None),
        ([300], None),
        ({"s": 300}, None),
        (float("inf"), None),
        (float("nan"), None),
    ],
)
def test_expires_in_seconds(value: Any, expected: int | None) -> None:
    assert expires_in_seconds({"params": {"expires_in_seconds": value}}) == expected


@pytest.mark.parametrize("env", [{}, {"params": None}, {"params": {}}, {"params": [300]}])
def test_expires_in_seconds_absent(env: dict[str, Any]) -> None:
    assert expires_in_seconds(env) is None


def test_expires_in_seconds_survives_normalisation() -> None:
    out, _ = norm(
        {"method": "message/send", "params": {"message": {"parts": TEXT}, "expires_in_seconds": 90}}
    )
    assert expires_in_seconds(out) == 90
    out, _ = norm(envelope({"messageId": "m", "parts": TEXT}, expires_in_seconds=True))
    assert expires_in_seconds(out) is None


# --- "changed": may the proxy forward the caller's bytes as they are? ---------------------


@pytest.mark.parametrize(
    ("raw", "changed"),
    [
        # v0.3 with a messageId: nothing to do, whatever the spacing or key order
        (b'{"params":{"message":{"parts":[],"messageId":"m"}},"jsonrpc":"2.0","id":1}', False),
        (
            b'{ "jsonrpc" : "2.0", "params" : { "message" : { "messageId" : "m", "parts" : [] }}}',
            False,
        ),
        (b'{"jsonrpc":"2.0","method":"tasks/get","params":{"id":"t"}}', False),  # no message
        (b'{"jsonrpc":"2.0","params":{"message":{"parts":[]}}}', True),  # messageId filled
        (b'{"method":"message/send","params":{}}', True),  # envelope built
        (b'{"jsonrpc":"2.0","params":{"message":{"messageId":"m","content":"hi"}}}', True),
        (b'{"jsonrpc":"2.0","params":{"message":{"messageId":"m","parts":["\\ud800"]}}}', True),
        (
            b'{"jsonrpc":"2.0","params":{"message":{"messageId":"m","parts":["\\ud83d\\ude00"]}}}',
            True,
        ),  # a surrogate pair is rewritten too (harmless: forwarded re-serialised)
    ],
)
def test_changed_says_whether_the_raw_body_can_be_forwarded(raw: bytes, changed: bool) -> None:
    envelope, method, got = normalize_a2a_request(raw)
    assert got is changed
    assert normalize_a2a_payload(raw)[1] == method
    if not changed:
        assert json.loads(raw) == envelope
