"""Error-detail sanitizing (the original's filter) and byte-bounded previews."""

from __future__ import annotations

import random

import pytest

from molecule.security.redact import (
    ERROR_DETAIL_MAX_BYTES,
    TRUNCATED_MARKER,
    redact_secrets,
    sanitize_error_detail,
    truncate_bytes,
)

SECRET20 = "abcdefghij0123456789"  # exactly 20 token characters
SECRET19 = SECRET20[:-1]
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3cy0xIn0.dGhpcy1pcy1hLXNpZw_-x"


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


# --- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("connection refused", "connection refused"),
        ("", ""),
        (f"Authorization: Bearer {SECRET20}", "Authorization: Bearer [REDACTED]"),
        (f"authorization: bearer {SECRET20}xyz", "authorization: bearer [REDACTED]"),
        (f"BEARER {SECRET20}", "BEARER [REDACTED]"),
        (f"token={SECRET20}", "token=[REDACTED]"),
        (f"Token = {SECRET20}", "Token = [REDACTED]"),
        (f"auth_token:{SECRET20}", "auth_token:[REDACTED]"),
        (f"api_key: {SECRET20}", "api_key: [REDACTED]"),
        (f"API-KEY={SECRET20}", "API-KEY=[REDACTED]"),
        (f"apikey {SECRET20}", "apikey [REDACTED]"),
        (f"api_key=sk-{SECRET20}", "api_key=[REDACTED]"),
        (f"key sk-proj-{SECRET20}", "key sk-proj-[REDACTED]"),
        (f"used sk-{SECRET20} for call", "used sk-[REDACTED] for call"),
        (f"token={SECRET20}, retry later", "token=[REDACTED], retry later"),
        (f"path token /a/b.c-d_e/{SECRET20}", "path token [REDACTED]"),
        # too short to be a secret: untouched
        (f"token={SECRET19}", f"token={SECRET19}"),
        (f"sk-{SECRET19} ", f"sk-{SECRET19} "),
        # no keyword: a long identifier is left alone
        (f"workspace {SECRET20}{SECRET20}", f"workspace {SECRET20}{SECRET20}"),
        # ASCII-only class: Unicode case folding must not make 'K' (Kelvin) a token char
        ("token " + "\u212a" * 25, "token " + "\u212a" * 25),
        # JWTs, with or without a keyword
        (f"upstream rejected {JWT} (expired)", "upstream rejected [REDACTED] (expired)"),
        (f"Bearer {JWT}", "Bearer [REDACTED]"),
        (f"x{JWT}", "x[REDACTED]"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3cy0xIn0", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3cy0xIn0"),
        (
            f"a token={SECRET20} and sk-{SECRET20} and {JWT}",
            "a token=[REDACTED] and sk-[REDACTED] and [REDACTED]",
        ),
    ],
)
def test_sanitize_redacts_secrets(raw: str, expected: str) -> None:
    assert sanitize_error_detail(raw) == expected
    assert redact_secrets(raw) == expected


# --- the cap -----------------------------------------------------------------------------


def test_sanitize_keeps_text_at_the_cap() -> None:
    text = "a" * ERROR_DETAIL_MAX_BYTES
    assert sanitize_error_detail(text) == text


def test_sanitize_truncates_past_the_cap() -> None:
    out = sanitize_error_detail("a" * (ERROR_DETAIL_MAX_BYTES + 1))
    assert out == "a" * ERROR_DETAIL_MAX_BYTES + TRUNCATED_MARKER
    assert TRUNCATED_MARKER == "…[truncated]"


@pytest.mark.parametrize("char", ["é", "€", "😀"])
@pytest.mark.parametrize("lead", ["", "x", "xy", "xyz"])
def test_sanitize_never_splits_a_character(char: str, lead: str) -> None:
    raw = lead + char * 3000
    out = sanitize_error_detail(raw)
    assert out.endswith(TRUNCATED_MARKER)
    body = out[: -len(TRUNCATED_MARKER)]
    assert raw.startswith(body)
    assert _nbytes(body) <= ERROR_DETAIL_MAX_BYTES
    # as long as possible: one more character would not fit
    assert _nbytes(body) + _nbytes(char) > ERROR_DETAIL_MAX_BYTES


def test_sanitize_redacts_a_secret_straddling_the_cut() -> None:
    # The keyword lies before byte 4096, the value crosses it: cutting first would leave
    # a 9-character head of the secret that the 20-character rule no longer sees.
    raw = "x" * 4080 + " token=" + "S" * 40 + " tail" * 2000
    out = sanitize_error_detail(raw)
    assert "S" not in out
    assert out.startswith("x" * 4080 + " token=[REDACT")
    assert out.endswith(TRUNCATED_MARKER)


def test_sanitize_drops_a_fragment_cut_at_the_window_edge() -> None:
    # Redactions shrink the text a lot, so what lay at the edge of the redaction window ends
    # up inside the cap; a secret cut there to 10 characters must not appear.
    chunk = "token=" + "q" * 100 + " "
    raw = chunk * 76 + " " * 44 + "token=" + "z" * 40 + " more" * 100
    assert _nbytes(chunk * 76 + " " * 44 + "token=") == 8182  # 10 'z's fall inside 8192
    out = sanitize_error_detail(raw)
    assert "q" not in out and "z" not in out
    assert out.endswith("token=" + TRUNCATED_MARKER)


def test_sanitize_huge_token_run() -> None:
    out = sanitize_error_detail("token=" + "S" * 100_000)
    assert "S" not in out
    assert out == "token=" + TRUNCATED_MARKER


def test_sanitize_is_bounded_on_adversarial_input() -> None:
    # Many JWT-looking starts in one run: the regex work is bounded by the window.
    out = sanitize_error_detail("eyJ" * 1_000_000)
    assert out.endswith(TRUNCATED_MARKER)
    assert _nbytes(out) <= ERROR_DETAIL_MAX_BYTES + _nbytes(TRUNCATED_MARKER)


def test_sanitize_tolerates_lone_surrogates() -> None:
    raw = "bad byte \udcff " * 1000
    out = sanitize_error_detail(raw)
    assert out.endswith(TRUNCATED_MARKER)
    assert raw.startswith(out[: -len(TRUNCATED_MARKER)])


# --- truncate_bytes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("hello", 5, "hello"),
        ("hello", 100, "hello"),
        ("", 0, ""),
        ("hello world", 8, "hello…"),
        ("hello world", 10, "hello w…"),
        ("héllo", 5, "h…"),  # 'é' would need bytes 2-3, leaving no room for '…'
        ("héllo", 6, "héllo"),
        ("😀😀😀", 10, "😀…"),
        ("😀😀😀", 12, "😀😀😀"),
        ("abcd", 3, "…"),
        ("abc", 2, "ab"),  # no room for the ellipsis: cut only
        ("é…", 2, "é"),
        ("😀", 3, "…"),
        ("abc", 0, ""),
    ],
)
def test_truncate_bytes(text: str, limit: int, expected: str) -> None:
    assert truncate_bytes(text, limit) == expected


def test_truncate_bytes_rejects_negative_limit() -> None:
    with pytest.raises(ValueError):
        truncate_bytes("abc", -1)


def test_truncate_bytes_invariants() -> None:
    rng = random.Random(1234)
    alphabet = "ab é€😀\n\udcff"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        limit = rng.randrange(0, 60)
        out = truncate_bytes(text, limit)
        assert _nbytes(out) <= limit
        if _nbytes(text) <= limit:
            assert out == text
        elif limit >= 3:
            assert out.endswith("…")
            head = out[:-1]
            assert text.startswith(head)
            # the cut is as late as the budget allows
            assert _nbytes(head) + _nbytes(text[len(head)]) > limit - 3
        else:
            assert text.startswith(out)
