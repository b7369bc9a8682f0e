"""The A2A corpus gate: replay every recorded wire shape through `normalize_a2a_payload`.

`corpus/valid/*.json` are shapes real senders emit; each must normalise to a canonical
JSON-RPC envelope with a non-empty `params.message.parts`. `corpus/invalid/*.json` must be
rejected with the recorded status and error text. Every file carries `_comment`, `_added` and
`_source` (and, when invalid, `_expect_status` and `_expect_error`); the loader strips those
keys before replaying. Tests are parametrized by file name, so a failure names the shape.

Add a file when a new sender or SDK version shows a new shape in the wild; never delete one
without a deprecation decision: the coverage test below fails if one of the original
platform's shapes (REQUIRED_VALID, REQUIRED_INVALID) goes missing.
"""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from molecule.a2a.normalize import normalize_a2a_payload
from molecule.errors import BadRequest

CORPUS = Path(__file__).parent / "corpus"
VALID_FILES = sorted((CORPUS / "valid").glob("*.json"))
INVALID_FILES = sorted((CORPUS / "invalid").glob("*.json"))

COMMON_META = ("_comment", "_added", "_source")
EXPECT_META = ("_expect_status", "_expect_error")
META_KEYS = frozenset(COMMON_META + EXPECT_META)

# The original platform's own corpus of wire shapes. These names must keep existing.
REQUIRED_VALID = {
    "no_jsonrpc_envelope",
    "v0_2_list_content",
    "v0_2_string_content",
    "v0_2_string_content_no_message_id",
    "v0_3_long_text",
    "v0_3_parts_multi_text",
    "v0_3_parts_text_only",
    "v0_3_parts_with_context",
    "v0_3_parts_with_file",
    "v0_3_streaming_method",
    "v0_3_unicode_text",
}
REQUIRED_INVALID = {"content_is_bool", "content_is_integer", "no_content_or_parts"}
MIN_VALID = 11
MIN_INVALID = 3


def _load(path: Path) -> dict[str, Any]:
    entry = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(entry, dict), f"{path.name}: a corpus entry must be a JSON object"
    return entry


def _strip(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in META_KEYS}


def _replay(entry: dict[str, Any]) -> tuple[dict[str, Any], str]:
    raw = json.dumps(_strip(entry), ensure_ascii=False).encode("utf-8")
    return normalize_a2a_payload(raw)


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


# --- valid shapes -----------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID_FILES, ids=_ids(VALID_FILES))
def test_valid_shapes_normalise(path: Path) -> None:
    body = _strip(_load(path))
    envelope, method = _replay(body)

    assert envelope["jsonrpc"] == "2.0"
    assert envelope.get("id") not in (None, "")
    assert method == body.get("method")
    assert envelope["method"] == body.get("method")

    message = envelope["params"]["message"]
    parts = message.get("parts")
    assert isinstance(parts, list) and parts, "params.message.parts must be a non-empty list"
    assert isinstance(message.get("messageId"), str) and message["messageId"]
    assert "content" not in message

    # Only the documented fixes happen; everything else is carried through verbatim.
    sent_message = body["params"]["message"]
    if "messageId" in sent_message:
        assert message["messageId"] == sent_message["messageId"]
    else:
        uuid.UUID(message["messageId"])
    if "parts" in sent_message:
        assert parts == sent_message["parts"]  # part keys (`type` vs `kind`) never rewritten
    elif isinstance(sent_message["content"], str):
        assert parts == [{"kind": "text", "text": sent_message["content"]}]
    else:
        assert parts == sent_message["content"]
    untouched = {
        k: v for k, v in sent_message.items() if k not in ("messageId", "parts", "content")
    }
    assert {k: v for k, v in message.items() if k in untouched} == untouched
    assert set(message) == set(untouched) | {"messageId", "parts"}

    expected_top = copy.deepcopy(body)
    if "jsonrpc" not in body:
        assert set(envelope) == {"jsonrpc", "id", "method", "params"}
        uuid.UUID(envelope["id"])
        expected_top = {
            "jsonrpc": "2.0",
            "id": envelope["id"],
            "method": body.get("method"),
            "params": copy.deepcopy(body.get("params")),
        }
    expected_top["params"]["message"] = message
    assert envelope == expected_top

    # The envelope is forwardable as UTF-8 and normalising it again changes nothing.
    again, again_method = normalize_a2a_payload(
        json.dumps(envelope, ensure_ascii=False).encode("utf-8")
    )
    assert again == envelope
    assert again_method == method


# --- invalid shapes ---------------------------------------------------------------------


@pytest.mark.parametrize("path", INVALID_FILES, ids=_ids(INVALID_FILES))
def test_invalid_shapes_rejected(path: Path) -> None:
    entry = _load(path)
    with pytest.raises(BadRequest) as excinfo:
        _replay(entry)
    assert excinfo.value.status == entry["_expect_status"]
    body = excinfo.value.body()
    assert entry["_expect_error"] in body["error"]
    assert isinstance(body.get("hint"), str) and body["hint"]


# --- bodies that are not JSON at all ----------------------------------------------------


MALFORMED = {
    "truncated_object": b'{"jsonrpc":"2.0","method":"message/send","params":{"message":',
    "not_json": b"hello, agent",
    "empty": b"",
    "whitespace_only": b"  \n\t\r\n ",
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_json_rejected(raw: bytes) -> None:
    with pytest.raises(BadRequest) as excinfo:
        normalize_a2a_payload(raw)
    assert excinfo.value.status == 400
    assert "invalid JSON" in excinfo.value.body()["error"]


# --- the corpus itself ------------------------------------------------------------------


def test_corpus_has_minimum_coverage() -> None:
    valid = {p.stem for p in VALID_FILES}
    invalid = {p.stem for p in INVALID_FILES}
    assert len(valid) >= MIN_VALID, f"only {len(valid)} valid corpus entries"
    assert len(invalid) >= MIN_INVALID, f"only {len(invalid)} invalid corpus entries"
    assert REQUIRED_VALID <= valid, f"missing valid entries: {sorted(REQUIRED_VALID - valid)}"
    assert REQUIRED_INVALID <= invalid, f"missing invalid: {sorted(REQUIRED_INVALID - invalid)}"
    # Both sides of the v0.2 -> v0.3 bridge stay covered.
    assert any(n.startswith("v0_2_") for n in valid)
    assert any(n.startswith("v0_3_") for n in valid)
    # Nothing stray that the gate would silently skip.
    strays = [p.name for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".json"]
    strays += [p.name for p in CORPUS.glob("*.json")]
    assert strays == []


@pytest.mark.parametrize(
    "path", VALID_FILES + INVALID_FILES, ids=_ids(VALID_FILES) + _ids(INVALID_FILES)
)
def test_every_entry_has_metadata(path: Path) -> None:
    entry = _load(path)
    for key in COMMON_META:
        assert isinstance(entry.get(key), str) and entry[key].strip(), f"{key} missing/empty"
    datetime.date.fromisoformat(entry["_added"])  # YYYY-MM-DD
    unknown = [k for k in entry if k.startswith("_") and k not in META_KEYS]
    assert unknown == [], "unknown metadata key (typo?) would be replayed as payload"
    if path.parent.name == "invalid":
        status = entry.get("_expect_status")
        assert isinstance(status, int) and not isinstance(status, bool)
        assert 400 <= status < 600
        assert isinstance(entry.get("_expect_error"), str) and entry["_expect_error"]
    else:
        assert not any(k in entry for k in EXPECT_META), "valid entries expect no error"
