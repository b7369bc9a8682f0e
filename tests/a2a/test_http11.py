"""The sans-IO HTTP/1.1 response parser (molecule.a2a.http11), fed bytes directly.

Most framing tests run twice through the `split` fixture: once with the whole response in
one `feed()`, once one byte at a time, so the parser's answer must not depend on where the
socket happens to cut the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from molecule.a2a.http11 import (
    END,
    MAX_CHUNK_LINE,
    MAX_HEAD,
    NEED_DATA,
    Head,
    ResponseParser,
)
from molecule.errors import AgentConnectionLost

Splitter = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.fixture(params=[whole, bytewise], ids=["whole", "bytewise"])
def split(request: pytest.FixtureRequest) -> Splitter:
    return request.param


def response(head: bytes, body: bytes = b"") -> bytes:
    """A response from CRLF-free head lines ("status\\nname: value\\n...") and a raw body."""
    return head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + body


def chunked(*chunks: bytes) -> bytes:
    """A chunked body of these chunks, ended by the last (zero-size) chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


class Feeder:
    """Hands the parser the next piece each time it asks, then the end of the connection."""

    def __init__(self, parser: ResponseParser, pieces: list[bytes]) -> None:
        self.parser = parser
        self.pieces: Iterator[bytes] = iter(pieces)
        self.eof = False

    def more(self) -> None:
        assert not self.eof, "the parser asked for data after the end of the connection"
        piece = next(self.pieces, b"")
        self.eof = not piece
        self.parser.feed(piece)


def read_head(feeder: Feeder) -> Head:
    while (head := feeder.parser.head()) is NEED_DATA:
        feeder.more()
    assert isinstance(head, Head)
    return head


def read_body(feeder: Feeder) -> bytes:
    body = bytearray()
    while (piece := feeder.parser.next_body()) is not END:
        if piece is NEED_DATA:
            feeder.more()
        else:
            assert isinstance(piece, bytes) and piece, "body pieces are non-empty bytes"
            body += piece
    return bytes(body)


def read(parser: ResponseParser, pieces: list[bytes]) -> tuple[Head, bytes]:
    """One whole response: its head and its body, feeding `pieces` as the parser asks."""
    feeder = Feeder(parser, pieces)
    return read_head(feeder), read_body(feeder)


def parse(data: bytes, split: Splitter = whole) -> tuple[ResponseParser, Head, bytes]:
    parser = ResponseParser()
    head, body = read(parser, split(data))
    return parser, head, body


def head_of(data: bytes) -> Head:
    """The head of a response given whole to a fresh parser."""
    parser = ResponseParser()
    parser.feed(data)
    head = parser.head()
    assert isinstance(head, Head)
    return head


def head_error(data: bytes, *, eof: bool = False) -> None:
    """The head of `data` is refused: the agent sent something that is not HTTP."""
    parser = ResponseParser()
    parser.feed(data)
    if eof:
        parser.feed(b"")
    with pytest.raises(AgentConnectionLost):
        parser.head()


def body_error(data: bytes, split: Splitter = whole) -> None:
    """`data` (then the end of the connection) has a valid head but a broken body."""
    parser = ResponseParser()
    feeder = Feeder(parser, split(data))
    read_head(feeder)
    with pytest.raises(AgentConnectionLost):
        read_body(feeder)


def assert_reusable(parser: ResponseParser) -> None:
    assert parser.reusable
    assert not parser.buf


# -- Content-Length ----------------------------------------------------------------------

OK_HELLO = response(
    b"HTTP/1.1 200 OK\ncontent-type: text/plain\ncontent-length: 11", b"hello world"
)


def test_content_length_body(split: Splitter) -> None:
    parser, head, body = parse(OK_HELLO, split)
    assert head.status == 200
    assert not head.http10
    assert head.get(b"content-type") == b"text/plain"
    assert body == b"hello world"
    assert parser.next_body() is END
    assert_reusable(parser)


def test_head_needs_data_until_the_blank_line() -> None:
    parser = ResponseParser()
    end = OK_HELLO.index(b"\r\n\r\n") + 4
    for byte in bytewise(OK_HELLO[:end]):
        assert parser.head() is NEED_DATA
        assert not parser.reusable
        parser.feed(byte)
    assert isinstance(parser.head(), Head)
    assert parser.next_body() is NEED_DATA
    assert not parser.reusable


def test_body_pieces_arrive_as_fed() -> None:
    parser = ResponseParser()
    parser.feed(OK_HELLO[:-6])
    assert isinstance(parser.head(), Head)
    assert parser.next_body() == b"hello"
    assert parser.next_body() is NEED_DATA
    parser.feed(b" world")
    assert parser.next_body() == b" world"
    assert parser.next_body() is END
    assert_reusable(parser)


def test_keep_alive_second_response(split: Splitter) -> None:
    second = response(b"HTTP/1.1 201 Created\ncontent-length: 3", b"abc")
    parser, _, body = parse(OK_HELLO, split)
    assert body == b"hello world"
    parser.start_next()
    assert not parser.reusable
    head, body = read(parser, split(second))
    assert (head.status, body) == (201, b"abc")
    assert_reusable(parser)


def test_both_responses_in_one_feed() -> None:
    second = response(b"HTTP/1.1 202 Accepted\ncontent-length: 2", b"ok")
    parser, head, body = parse(OK_HELLO + second)
    assert (head.status, body) == (200, b"hello world")
    assert not parser.reusable  # the second response is already buffered
    parser.start_next()
    head, body = read(parser, [])
    assert (head.status, body) == (202, b"ok")
    assert_reusable(parser)


def test_content_length_zero() -> None:
    parser = ResponseParser()
    parser.feed(response(b"HTTP/1.1 200 OK\ncontent-length: 0"))
    assert isinstance(parser.head(), Head)
    assert parser.next_body() is END
    assert_reusable(parser)


def test_eof_inside_content_length_body(split: Splitter) -> None:
    body_error(response(b"HTTP/1.1 200 OK\ncontent-length: 10", b"short"), split)


def test_identical_content_lengths() -> None:
    _, _, body = parse(response(b"HTTP/1.1 200 OK\ncontent-length: 2\ncontent-length:  2", b"hi"))
    assert body == b"hi"


@pytest.mark.parametrize(
    "lines",
    [
        b"content-length: 2\ncontent-length: 3",
        b"content-length: -1",
        b"content-length: +2",
        b"content-length: 0x2",
        b"content-length: 2, 2",
        b"content-length:",
    ],
)
def test_bad_content_length(lines: bytes) -> None:
    head_error(response(b"HTTP/1.1 200 OK\n" + lines, b"hi"))


# -- chunked -----------------------------------------------------------------------------

CHUNKED_HEAD = b"HTTP/1.1 200 OK\ntransfer-encoding: chunked"


def test_chunked_body(split: Splitter) -> None:
    data = response(CHUNKED_HEAD, chunked(b"hello", b" ", b"chunked world"))
    parser, head, body = parse(data, split)
    assert head.get(b"transfer-encoding") == b"chunked"
    assert body == b"hello chunked world"
    assert parser.next_body() is END
    assert_reusable(parser)


def test_chunked_extensions_uppercase_hex_and_trailers(split: Splitter) -> None:
    body = (
        b"5;foo=bar\r\nhello\r\n"
        b'A ; name="quoted"\r\n0123456789\r\n'
        b"1B\r\n" + b"x" * 27 + b"\r\n"
        b"0;last\r\n"
        b"x-checksum: abc\r\n"
        b"x-other: def\r\n"
        b"\r\n"
    )
    parser, _, got = parse(response(CHUNKED_HEAD, body), split)
    assert got == b"hello0123456789" + b"x" * 27
    assert_reusable(parser)


def test_chunked_with_bare_lf(split: Splitter) -> None:
    data = b"HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\n3\nabc\n0\n\n"
    parser, _, body = parse(data, split)
    assert body == b"abc"
    assert_reusable(parser)


def test_chunked_transfer_encoding_is_case_insensitive() -> None:
    _, _, body = parse(response(b"HTTP/1.1 200 OK\nTransfer-Encoding: Chunked", chunked(b"ok")))
    assert body == b"ok"


def test_chunked_wins_over_content_length() -> None:
    data = response(CHUNKED_HEAD + b"\ncontent-length: 100", chunked(b"abc"))
    parser, _, body = parse(data)
    assert body == b"abc"
    assert_reusable(parser)


def test_chunked_keep_alive_second_response(split: Splitter) -> None:
    parser, _, body = parse(response(CHUNKED_HEAD, chunked(b"one")), split)
    assert body == b"one"
    parser.start_next()
    head, body = read(parser, split(response(CHUNKED_HEAD, chunked(b"two", b"2"))))
    assert body == b"two2"
    assert_reusable(parser)


@pytest.mark.parametrize("size_line", [b"xyz", b"", b"-5", b"0x5", b";ext"])
def test_invalid_chunk_size_line(size_line: bytes, split: Splitter) -> None:
    body_error(response(CHUNKED_HEAD, size_line + b"\r\nhello\r\n0\r\n\r\n"), split)


def test_missing_crlf_after_chunk_data(split: Splitter) -> None:
    body_error(response(CHUNKED_HEAD, b"5\r\nhelloXX\r\n0\r\n\r\n"), split)


def test_chunk_longer_than_its_size(split: Splitter) -> None:
    body_error(response(CHUNKED_HEAD, b"3\r\nhello\r\n0\r\n\r\n"), split)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"5",
        b"5\r\n",
        b"5\r\nhel",
        b"5\r\nhello",
        b"5\r\nhello\r\n",
        b"0\r\n",
        b"0\r\nx: y\r\n",
    ],
)
def test_eof_inside_chunked_body(body: bytes, split: Splitter) -> None:
    body_error(response(CHUNKED_HEAD, body), split)


# A valid chunk, but its size line is one byte over the limit.
LONG_CHUNK_LINE = response(CHUNKED_HEAD, b"0" * MAX_CHUNK_LINE + b"5\r\nhello\r\n0\r\n\r\n")


def test_chunk_size_line_too_long() -> None:
    body_error(response(CHUNKED_HEAD, b"0" * (MAX_CHUNK_LINE + 1)))


def test_chunk_size_line_too_long_in_one_read() -> None:
    body_error(LONG_CHUNK_LINE)


def test_chunk_size_line_too_long_in_pieces() -> None:
    body_error(LONG_CHUNK_LINE, bytewise)


@pytest.mark.parametrize("encoding", [b"gzip", b"gzip, chunked", b"identity", b"chunked, chunked"])
def test_unsupported_transfer_encoding(encoding: bytes) -> None:
    head_error(response(b"HTTP/1.1 200 OK\ntransfer-encoding: " + encoding, chunked(b"x")))


def test_transfer_encoding_on_two_lines() -> None:
    lines = b"HTTP/1.1 200 OK\ntransfer-encoding: chunked\ntransfer-encoding: gzip"
    head_error(response(lines, chunked(b"x")))


# -- 1xx, 204, 304 -----------------------------------------------------------------------


def test_informational_responses_are_skipped(split: Splitter) -> None:
    data = (
        response(b"HTTP/1.1 100 Continue")
        + response(b"HTTP/1.1 103 Early Hints\nlink: </style.css>; rel=preload")
        + response(b"HTTP/1.1 200 OK\ncontent-length: 4", b"done")
    )
    parser, head, body = parse(data, split)
    assert (head.status, body) == (200, b"done")
    assert head.get(b"link") is None
    assert_reusable(parser)


def test_switching_protocols_is_an_error() -> None:
    head_error(response(b"HTTP/1.1 101 Switching Protocols\nupgrade: websocket"))


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    first = response(b"HTTP/1.1 %d X\ncontent-length: 5" % status)
    second = response(b"HTTP/1.1 200 OK\ncontent-length: 2", b"hi")
    parser = ResponseParser()
    parser.feed(first + second)
    head = parser.head()
    assert isinstance(head, Head) and head.status == status
    assert parser.next_body() is END
    parser.start_next()
    head, body = read(parser, [])
    assert (head.status, body) == (200, b"hi")
    assert_reusable(parser)


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_status_alone_is_reusable(status: int) -> None:
    parser, _, body = parse(response(b"HTTP/1.1 %d X" % status))
    assert body == b""
    assert_reusable(parser)


# -- body until the connection closes ----------------------------------------------------


def test_body_until_close(split: Splitter) -> None:
    parser, _, body = parse(response(b"HTTP/1.1 200 OK", b"all of it\r\n\r\nand more"), split)
    assert body == b"all of it\r\n\r\nand more"
    assert parser.next_body() is END
    assert not parser.reusable


def test_body_until_close_needs_eof() -> None:
    parser = ResponseParser()
    parser.feed(response(b"HTTP/1.1 200 OK", b"abc"))
    assert isinstance(parser.head(), Head)
    assert parser.next_body() == b"abc"
    assert parser.next_body() is NEED_DATA
    parser.feed(b"def")
    assert parser.next_body() == b"def"
    parser.feed(b"")
    assert parser.next_body() is END
    assert not parser.reusable


def test_empty_body_until_close() -> None:
    parser, _, body = parse(response(b"HTTP/1.1 200 OK"))
    assert body == b""
    assert not parser.reusable


# -- connection reuse --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_line", "connection", "reusable"),
    [
        (b"HTTP/1.1 200 OK", None, True),
        (b"HTTP/1.1 200 OK", b"close", False),
        (b"HTTP/1.1 200 OK", b"Close", False),
        (b"HTTP/1.1 200 OK", b"keep-alive, close", False),
        (b"HTTP/1.1 200 OK", b"keep-alive", True),
        (b"HTTP/1.0 200 OK", None, False),
        (b"HTTP/1.0 200 OK", b"close", False),
        (b"HTTP/1.0 200 OK", b"keep-alive", True),
        (b"HTTP/1.0 200 OK", b"Keep-Alive", True),
    ],
)
def test_connection_reuse(status_line: bytes, connection: bytes | None, reusable: bool) -> None:
    lines = status_line + b"\ncontent-length: 2"
    if connection is not None:
        lines += b"\nconnection: " + connection
    parser, head, body = parse(response(lines, b"hi"))
    assert body == b"hi"
    assert head.http10 == status_line.startswith(b"HTTP/1.0")
    assert parser.reusable is reusable


def test_http10_keep_alive_chunked() -> None:
    data = response(b"HTTP/1.0 200 OK\nconnection: keep-alive\ntransfer-encoding: chunked")
    parser, _, body = parse(data + chunked(b"hi"))
    assert body == b"hi"
    assert parser.reusable


def test_connection_close_on_a_chunked_response() -> None:
    parser, _, _ = parse(response(CHUNKED_HEAD + b"\nconnection: close", chunked(b"x")))
    assert not parser.reusable


def test_connection_close_on_a_second_line() -> None:
    lines = b"HTTP/1.1 200 OK\nconnection: keep-alive\nconnection: close\ncontent-length: 2"
    parser, _, _ = parse(response(lines, b"hi"))
    assert not parser.reusable


def test_leftover_bytes_after_the_response() -> None:
    parser, _, body = parse(OK_HELLO + b"junk")
    assert body == b"hello world"
    assert parser.next_body() is END
    assert not parser.reusable
    assert parser.buf == b"junk"


def test_leftover_bytes_after_a_chunked_response() -> None:
    parser, _, _ = parse(response(CHUNKED_HEAD, chunked(b"x") + b"\r\n"))
    assert not parser.reusable


# -- status line and headers -------------------------------------------------------------


@pytest.mark.parametrize(
    "status_line",
    [
        b"HTTP/2 200 OK",
        b"HTTP/1.2 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 abc OK",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1 200OK",
        b"http/1.1 200 OK",
        b"ICY 200 OK",
        b"garbage",
        b"",
    ],
)
def test_bad_status_line(status_line: bytes) -> None:
    head_error(response(status_line + b"\ncontent-length: 0"))


@pytest.mark.parametrize(
    "line",
    [
        b"no colon here",
        b" folded: value",
        b"\tfolded: value",
        b": empty name",
        b"bad name: value",
        b"name : value",
        b"n(a)me: value",
    ],
)
def test_bad_header_line(line: bytes) -> None:
    head_error(response(b"HTTP/1.1 200 OK\ncontent-length: 0\n" + line))


def test_obs_fold_continuation_is_an_error() -> None:
    head_error(response(b"HTTP/1.1 200 OK\nx-long: first\n  second\ncontent-length: 0"))


def test_headers_lowercased_and_stripped() -> None:
    head = head_of(
        response(
            b"HTTP/1.1 200 OK\nContent-Type:   application/json \t\nX-Dup: first\n"
            b"x-dup: second\nX-Empty:\nX-Inner: a  b\ncontent-length: 0"
        )
    )
    assert head.headers == [
        (b"content-type", b"application/json"),
        (b"x-dup", b"first"),
        (b"x-dup", b"second"),
        (b"x-empty", b""),
        (b"x-inner", b"a  b"),
        (b"content-length", b"0"),
    ]
    assert head.get(b"x-dup") == b"first"
    assert head.get(b"content-type") == b"application/json"
    assert head.get(b"x-empty") == b""
    assert head.get(b"missing") is None
    assert head.get(b"Content-Type") is None  # lookups take lowercase names


@pytest.mark.parametrize(
    "status_line", [b"HTTP/1.1 200", b"HTTP/1.1 200 ", b"HTTP/1.1 200 All Good, Thanks"]
)
def test_reason_phrase_is_optional(status_line: bytes) -> None:
    parser, head, body = parse(response(status_line + b"\ncontent-length: 2", b"hi"))
    assert (head.status, body) == (200, b"hi")
    assert_reusable(parser)


def test_status_codes() -> None:
    for status in (200, 201, 302, 404, 500, 503, 599):
        assert head_of(response(b"HTTP/1.1 %d X\ncontent-length: 0" % status)).status == status


def test_bare_lf_line_endings(split: Splitter) -> None:
    parser, head, body = parse(b"HTTP/1.1 200 OK\ncontent-length: 2\n\nhi", split)
    assert (head.status, head.headers, body) == (200, [(b"content-length", b"2")], b"hi")
    assert_reusable(parser)


def test_crlf_lines_then_bare_lf_blank_line() -> None:
    parser, head, body = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\nhi")
    assert (head.get(b"content-length"), body) == (b"2", b"hi")
    assert_reusable(parser)


def test_bare_lf_lines_then_crlf_blank_line() -> None:
    parser, head, body = parse(b"HTTP/1.1 200 OK\ncontent-length: 2\n\r\nhi")
    assert (head.get(b"content-length"), body) == (b"2", b"hi")
    assert_reusable(parser)


def test_head_without_headers() -> None:
    head = head_of(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert (head.status, head.headers) == (204, [])


# -- limits and early EOF ----------------------------------------------------------------


def test_head_too_large_without_blank_line() -> None:
    head_error(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * MAX_HEAD)


def test_head_too_large_with_blank_line() -> None:
    head_error(response(b"HTTP/1.1 200 OK\nx-big: " + b"a" * MAX_HEAD, b""))


def test_head_just_under_the_limit() -> None:
    lines = b"HTTP/1.1 200 OK\ncontent-length: 0\nx-big: "
    lines += b"a" * (MAX_HEAD - len(lines) - 2)  # the CRLF before x-big counts too
    assert len(response(lines)) - 4 == MAX_HEAD
    assert head_of(response(lines)).status == 200


def test_head_too_large_fed_in_pieces() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    assert parser.head() is NEED_DATA
    with pytest.raises(AgentConnectionLost):
        for _ in range(MAX_HEAD // 1024 + 1):
            parser.feed(b"x-filler: " + b"a" * 1012 + b"\r\n")
            assert parser.head() is NEED_DATA


@pytest.mark.parametrize(
    "data", [b"", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nx: y\r\n\r"]
)
def test_eof_before_complete_head(data: bytes) -> None:
    head_error(data, eof=True)


def test_eof_after_an_informational_response() -> None:
    head_error(response(b"HTTP/1.1 100 Continue"), eof=True)
