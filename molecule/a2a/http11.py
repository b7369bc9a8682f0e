"""A sans-IO parser for the HTTP/1.1 responses of one client connection.

The proxy's agent client used h11, which spends about 100 µs of pure Python per
request/response cycle; on the proxy's hot path that was a tenth of the whole request.
An agent's answer is simple to frame, so this parser does only what a client needs
(RFC 9112 §4-7): the status line and headers, 1xx responses skipped, and a body framed by
`Transfer-Encoding: chunked`, `Content-Length`, or the end of the connection.
Anything malformed is `AgentConnectionLost` (the agent sent something that is not HTTP,
which the proxy treats like a dropped connection: busy); the caller then drops the
connection.

Usage per response: `feed()` what the socket gives, `head()` until it returns a `Head`,
then `next_body()` until it returns `END`. `NEED_DATA` asks for more bytes (`feed(b"")`
signals the end of the connection). After `END`, `reusable` says whether the connection can
carry another request, and `start_next()` prepares for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from molecule.errors import AgentConnectionLost

MAX_HEAD = 64 * 1024  # status line plus headers (h11's default was 16 KiB)
MAX_CHUNK_LINE = 1024

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")  # the end of the head, CRLF or bare LF


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA: Final = _Marker("NEED_DATA")
END: Final = _Marker("END")


@dataclass(frozen=True)
class Head:
    status: int
    headers: list[tuple[bytes, bytes]]  # names lowercased, values stripped
    http10: bool

    def get(self, name: bytes) -> bytes | None:
        """The first value of a header (`name` lowercase)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def joined(self, name: bytes) -> bytes:
        """Every line of a list-valued header, as one comma-separated value."""
        return b", ".join(value for key, value in self.headers if key == name)


# Body framing modes.
_NONE, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(4)
# Chunked sub-states.
_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class ResponseParser:
    __slots__ = ("buf", "eof", "mode", "remaining", "chunk_state", "keep_alive", "done")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.eof = False
        self.mode = _NONE
        self.remaining = 0
        self.chunk_state = _SIZE
        self.keep_alive = True
        self.done = False

    def feed(self, data: bytes) -> None:
        if data:
            self.buf += data
        else:
            self.eof = True

    @property
    def reusable(self) -> bool:
        """The response ended cleanly and the connection may carry the next request."""
        return self.done and self.keep_alive and self.mode != _UNTIL_CLOSE and not self.buf

    def start_next(self) -> None:
        self.mode, self.remaining, self.chunk_state, self.done = _NONE, 0, _SIZE, False

    # -- head -----------------------------------------------------------------------------

    def head(self) -> Head | _Marker:
        """The final response's head (1xx ones are skipped), or NEED_DATA."""
        while True:
            end, skip = self._head_end()
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise AgentConnectionLost("response head too large")
                if self.eof:
                    raise AgentConnectionLost("connection closed before a complete response head")
                return NEED_DATA
            if end > MAX_HEAD:
                raise AgentConnectionLost("response head too large")
            raw = bytes(self.buf[:end])
            del self.buf[: end + skip]
            head = _parse_head(raw)
            if 100 <= head.status < 200:
                if head.status == 101:
                    raise AgentConnectionLost("unexpected protocol switch")
                continue
            self._frame(head)
            return head

    def _head_end(self) -> tuple[int, int]:
        """Index of the blank line ending the head and its length, or (-1, 0)."""
        match = _BLANK_LINE.search(self.buf)
        if match is None:
            return -1, 0
        return match.start(), match.end() - match.start()

    def _frame(self, head: Head) -> None:
        """RFC 9112 §6.3: how this response's body ends."""
        tokens = {t.strip().lower() for t in head.joined(b"connection").split(b",")}
        self.keep_alive = b"close" not in tokens and (not head.http10 or b"keep-alive" in tokens)
        if head.status in (204, 304):
            self.mode = _NONE
            self.done = True
            return
        if head.get(b"transfer-encoding") is not None:
            encoding = head.joined(b"transfer-encoding")
            if encoding.strip().lower() != b"chunked":
                raise AgentConnectionLost(f"unsupported transfer-encoding {encoding!r}")
            self.mode, self.chunk_state = _CHUNKED, _SIZE
            return
        lengths = {value for key, value in head.headers if key == b"content-length"}
        if lengths:
            if len(lengths) != 1:
                raise AgentConnectionLost("conflicting content-length headers")
            (raw,) = lengths
            if not raw.isdigit():
                raise AgentConnectionLost(f"invalid content-length {raw!r}")
            self.mode, self.remaining = _LENGTH, int(raw)
            if self.remaining == 0:
                self.done = True
            return
        self.mode = _UNTIL_CLOSE

    # -- body -----------------------------------------------------------------------------

    def next_body(self) -> bytes | _Marker:
        """The next piece of body already buffered, END, or NEED_DATA."""
        if self.done:
            return END
        if self.mode == _LENGTH:
            return self._length_body()
        if self.mode == _CHUNKED:
            return self._chunked_body()
        if self.buf:  # until close
            data = bytes(self.buf)
            self.buf.clear()
            return data
        if self.eof:
            self.done = True
            return END
        return NEED_DATA

    def _length_body(self) -> bytes | _Marker:
        if not self.buf:
            if self.eof:
                raise AgentConnectionLost("connection closed before the end of the body")
            return NEED_DATA
        take = min(len(self.buf), self.remaining)
        data = bytes(self.buf[:take])
        del self.buf[:take]
        self.remaining -= take
        if self.remaining == 0:
            self.done = True
        return data

    def _chunked_body(self) -> bytes | _Marker:
        while True:
            if self.chunk_state == _DATA:
                if not self.buf:
                    return self._need()
                take = min(len(self.buf), self.remaining)
                data = bytes(self.buf[:take])
                del self.buf[:take]
                self.remaining -= take
                if self.remaining == 0:
                    self.chunk_state = _DATA_END
                return data
            line = self._line()
            if line is None:
                return self._need()
            if self.chunk_state == _SIZE:
                size = line.split(b";", 1)[0].strip()
                if not _HEX.fullmatch(size):
                    raise AgentConnectionLost(f"invalid chunk size line {line[:40]!r}")
                self.remaining = int(size, 16)
                self.chunk_state = _DATA if self.remaining else _TRAILER
            elif self.chunk_state == _DATA_END:
                if line:
                    raise AgentConnectionLost("missing CRLF after chunk data")
                self.chunk_state = _SIZE
            elif not line:  # _TRAILER: an empty line ends the message
                self.done = True
                return END

    def _line(self) -> bytes | None:
        end = self.buf.find(b"\n", 0, MAX_CHUNK_LINE + 1)
        if end < 0:
            if len(self.buf) > MAX_CHUNK_LINE:
                raise AgentConnectionLost("chunk line too long")
            return None
        line = bytes(self.buf[:end]).rstrip(b"\r")
        del self.buf[: end + 1]
        return line

    def _need(self) -> _Marker:
        if self.eof:
            raise AgentConnectionLost("connection closed before the end of the chunked body")
        return NEED_DATA


def _parse_head(raw: bytes) -> Head:
    lines = raw.split(b"\n")
    status_line = lines[0].rstrip(b"\r")
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise AgentConnectionLost(f"invalid status line {status_line[:80]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise AgentConnectionLost(f"invalid header line {line[:80]!r}")  # includes obs-fold
        headers.append((name.lower(), value.strip(b" \t")))
    return Head(int(match.group(2)), headers, http10=match.group(1) == b"0")
