"""`multipart/form-data` bodies as part events, parsed by python-multipart (Starlette's parser).

Both chat-upload sinks take up to 100 MiB without holding it: the agent's
`/internal/chat/uploads/ingest` writes each file to disk, the platform's poll-mode staging into
PostgreSQL large objects. python-multipart parses incrementally but reports through
synchronous callbacks, and the sinks must await (a thread, the database) between pieces. So
the callbacks only collect `PartStart` / `PartData` / `PartEnd` events; the sink feeds one
body chunk, awaits the events it completed, and only then pulls the next chunk from ASGI
`receive()`. A slow sink therefore slows the client (backpressure), and memory stays at one
chunk.

Shared by the platform and the agent program, so it imports nothing of the platform but
`molecule.errors`. Failures raise `MalformedForm` with the parser's words; each route decides
what its answer says.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartState, parse_options_header

from molecule.errors import MalformedForm

FORM_DATA = b"multipart/form-data"


@dataclass(frozen=True)
class PartStart:
    name: str
    filename: str | None  # None for a plain field; a file part has a filename (maybe "")
    content_type: str | None


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


PartEvent = PartStart | PartData | PartEnd


def boundary_from(content_type: str | None) -> bytes | None:
    """The boundary of a `multipart/form-data` content type; None if it is not one."""
    kind, options = parse_options_header(content_type)
    if kind != FORM_DATA:
        return None
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedForm("Missing boundary in multipart.")
    return boundary


def _text(raw: bytes) -> str:
    """Header bytes as text: UTF-8 as browsers send it, else latin-1 (never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class FormParts:
    """Feed the body chunk by chunk; each `feed` returns the events that chunk completed."""

    def __init__(self, boundary: bytes) -> None:
        self._events: list[PartEvent] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._headers.clear,
                    "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
                    "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": lambda data, start, end: self._events.append(
                        PartData(data[start:end])
                    ),
                    "on_part_end": lambda: self._events.append(PartEnd()),
                },
            )
        except FormParserError as exc:  # e.g. a boundary longer than the RFC allows
            raise MalformedForm(str(exc)) from None

    @property
    def done(self) -> bool:
        """The closing boundary has been read; whatever follows is epilogue."""
        return bool(self._parser.state == MultipartState.END)

    def feed(self, chunk: bytes) -> list[PartEvent]:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise MalformedForm(str(exc)) from None
        events, self._events = self._events, []
        return events

    def finish(self) -> None:
        """The body ended: refuse it unless its closing boundary was there (python-multipart's
        own `finalize` does not check)."""
        if not self.done:
            raise MalformedForm("Unexpected end of multipart body.")

    def _header_end(self) -> None:
        self._headers[bytes(self._field).strip().lower()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition")
        if disposition is None:
            raise MalformedForm("Missing Content-Disposition header.")
        _, options = parse_options_header(disposition)
        name = options.get(b"name")
        if name is None:
            raise MalformedForm("Missing 'name' in Content-Disposition.")
        filename = options.get(b"filename")
        content_type = self._headers.get(b"content-type")
        self._events.append(
            PartStart(
                _text(name),
                None if filename is None else _text(filename),
                None if content_type is None else _text(content_type),
            )
        )
