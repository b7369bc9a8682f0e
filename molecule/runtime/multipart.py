"""An incremental `multipart/form-data` parser: bytes in, part events out, O(chunk) memory.

The upload sink must write up to 100 MiB to disk without holding it in memory, so it feeds
request chunks here as they arrive and gets `PartStart` / `PartData` / `PartEnd` events back.
Failures raise `MultiPartException` (named after Starlette's, whose name the original's 400
body reports in its `exception` field).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

MAX_HEADER_BYTES = 16 * 1024


class MultiPartException(Exception):
    pass


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


Event = PartStart | PartData | PartEnd


def _split_params(value: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out, escaped = [], False
        for ch in value[1:-1]:
            if escaped or ch != "\\":
                out.append(ch)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def parse_options(header: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="files"; filename="a.txt"` -> ("form-data", {...}); RFC 5987
    `filename*=UTF-8''...` wins over `filename`."""
    head, *rest = _split_params(header)
    params: dict[str, str] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep:
            continue
        params[key.strip().lower()] = _unquote(value)
    extended = params.pop("filename*", None)
    if extended is not None:
        charset, _, encoded = extended.partition("''")
        if encoded:
            try:
                params["filename"] = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                pass
    return head.strip().lower(), params


def boundary_from(content_type: str | None) -> bytes | None:
    """The boundary of a `multipart/form-data` content type; None if it is not one."""
    if not content_type:
        return None
    kind, params = parse_options(content_type)
    if kind != "multipart/form-data":
        return None
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultiPartException("Missing boundary in multipart.")
    return boundary.encode("latin-1", errors="replace")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _part_start(block: bytes) -> PartStart:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise MultiPartException("Invalid part header line.")
        headers[_decode(name).strip().lower()] = _decode(value).strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultiPartException("Missing Content-Disposition header.")
    _, options = parse_options(disposition)
    if "name" not in options:
        raise MultiPartException("Missing 'name' in Content-Disposition.")
    return PartStart(options["name"], options.get("filename"), headers.get("content-type"))


class MultipartParser:
    def __init__(self, boundary: bytes) -> None:
        self.delimiter = b"--" + boundary
        self.body_delimiter = b"\r\n" + self.delimiter
        self.state = "preamble"
        self.buf = bytearray()

    @property
    def done(self) -> bool:
        return self.state == "end"

    def feed(self, data: bytes) -> list[Event]:
        self.buf += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def finish(self) -> None:
        if self.state != "end":
            raise MultiPartException("Unexpected end of multipart body.")

    def _step(self, events: list[Event]) -> bool:
        """Advance one state if the buffer allows; False when more input is needed."""
        buf = self.buf
        if self.state == "preamble":
            start = 0
            while True:
                idx = buf.find(self.delimiter, start)
                if idx < 0:
                    keep = len(self.delimiter) + 2
                    del buf[: max(0, len(buf) - keep)]
                    return False
                if idx == 0 or buf[idx - 2 : idx] == b"\r\n":
                    del buf[: idx + len(self.delimiter)]
                    self.state = "after_delimiter"
                    return True
                start = idx + 1
        if self.state == "after_delimiter":
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self.state = "end"
                buf.clear()
                return False
            eol = buf.find(b"\r\n")
            if eol < 0:
                if len(buf) > 1024:
                    raise MultiPartException("Invalid multipart boundary line.")
                return False
            if bytes(buf[:eol]).strip(b" \t"):
                raise MultiPartException("Invalid multipart boundary line.")
            del buf[: eol + 2]
            self.state = "headers"
            return True
        if self.state == "headers":
            if buf[:2] == b"\r\n":
                block, consumed = b"", 2
            else:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEADER_BYTES:
                        raise MultiPartException("Part headers too large.")
                    return False
                block, consumed = bytes(buf[:end]), end + 4
            if consumed > MAX_HEADER_BYTES:
                raise MultiPartException("Part headers too large.")
            del buf[:consumed]
            events.append(_part_start(block))
            self.state = "body"
            return True
        if self.state == "body":
            idx = buf.find(self.body_delimiter)
            if idx >= 0:
                if idx:
                    events.append(PartData(bytes(buf[:idx])))
                events.append(PartEnd())
                del buf[: idx + len(self.body_delimiter)]
                self.state = "after_delimiter"
                return True
            safe = len(buf) - len(self.body_delimiter) + 1
            if safe > 0:
                events.append(PartData(bytes(buf[:safe])))
                del buf[:safe]
            return False
        buf.clear()  # epilogue after the closing delimiter is ignored
        return False
