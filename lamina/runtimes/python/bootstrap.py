"""Lamina's Python runtime: runs an unmodified Lambda handler over the Runtime API.

Started by the platform inside an execution environment as ``python3.X bootstrap.py``, with
Lambda's environment variables set (``_HANDLER``, ``AWS_LAMBDA_RUNTIME_API``,
``LAMBDA_TASK_ROOT``, ...). It behaves like AWS's own Python runtime: INIT imports the
handler's module, then every event is pulled with ``GET /next`` and answered with
``POST /response`` or ``POST /error``.

This file runs under whichever CPython (3.11+) the function asked for, so it uses the standard
library only, and it is on the cold-start path, so it imports as little as it can: the HTTP
client is a few lines over a raw socket (``http.client`` pulls in the ``email`` package and
costs ~20 ms of start-up here), and ``traceback`` / ``logging`` are loaded only when needed.
"""

import _socket  # the C module: ``socket`` adds enum conversions we do not need at start-up
import importlib
import importlib.machinery
import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import ModuleType

    Handler = Callable[[object, "LambdaContext"], object]

_API_PREFIX = "/2018-06-01/runtime"
_BOOTSTRAP_FILE = os.path.abspath(__file__)
# Frames of these files are the runtime's, not the function's: tracebacks leave them out.
RUNTIME_FILES = {_BOOTSTRAP_FILE}
# AWS's Python 3.12+ runtimes answer with raw UTF-8 instead of \u escapes.
_ENSURE_ASCII = sys.version_info < (3, 12)
# The headers of the event being handled, for log lines written through ``logging`` (its
# request id and tenant id): one store per invoke, the lookups only when something logs.
_current_headers: dict[str, str] = {}
# Lambda's advanced logging controls, read once as AWS's runtime reads them: the log format
# (``JSON`` in any case, anything else is text) and the level the root logger gets.
_LOG_JSON = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
_LOG_LEVEL = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()


# --------------------------------------------------------------------------- HTTP client

Answer = tuple[int, dict[str, str], bytes]


class RuntimeApiError(Exception):
    """Raised when the Runtime API cannot be reached or answers nonsense."""


class RuntimeApiClient:
    """HTTP/1.1 over one keep-alive TCP connection, reopened if the server closed it.

    A warm invoke costs the runtime one write and (usually) two reads: the answer's
    ``POST`` goes out with the next ``GET /next`` pipelined right behind it in the same
    write, both from pre-built bytes, and the answers are read from one buffer kept with
    the connection. The Runtime API answers in order, so the ``202`` is still read (and
    checked) before the next event; if the server closes the connection after the ``202``
    (ending keep-alive, or refusing the answer), the ``GET`` is simply sent again on a new
    connection.
    """

    __slots__ = ("_ack", "_buf", "_framed", "_get_next", "_host", "_host_header", "_next_sent",
                 "_port", "_post", "_sock")  # fmt: skip

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._host = host.strip("[]") or "127.0.0.1"
        self._port = int(port)
        self._host_header = address
        self._sock: _socket.socket | None = None
        # What was received past the last answer read: the start of the next one, if any.
        self._buf = bytearray()
        # Whether a ``GET /next`` went out behind the last answer and is still unread.
        self._next_sent = False
        # The last 202 an invoke's answer got, as bytes and parsed; its size as _read_answer saw it.
        self._ack: tuple[bytes, Answer] | None = None
        self._framed = 0
        host_line = f"Host: {address}\r\n".encode("latin-1")
        prefix = _API_PREFIX.encode("ascii")
        self._get_next = b"GET " + prefix + b"/invocation/next HTTP/1.1\r\n" + host_line + b"\r\n"
        # % (request id, b"response" or b"error", Content-Length, extra header lines,
        # payload): the whole write, the next GET /next behind it; a % of the address (an
        # IPv6 zone) escaped for the template.
        self._post = (
            b"POST " + prefix + b"/invocation/%s/%s HTTP/1.1\r\n" + host_line.replace(b"%", b"%%")
            + b"Content-Length: %d\r\n%s\r\n%s" + self._get_next.replace(b"%", b"%%")
        )  # fmt: skip

    def _connect(self) -> _socket.socket:
        last: OSError | None = None
        # A bytes host skips the IDNA codec, which would import ~1.5 ms of modules.
        for family, kind, proto, _, addr in _socket.getaddrinfo(
            self._host.encode("ascii"), self._port, 0, _socket.SOCK_STREAM
        ):
            sock = _socket.socket(family, kind, proto)
            try:
                # One write per request, no Nagle: split writes cost ~40 ms with delayed ACKs.
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            return sock
        raise RuntimeApiError(f"cannot connect to the Runtime API at {self._host_header}: {last}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()
        self._next_sent = False

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        """Send one request and read its whole answer: (status, lower-cased headers, body)."""
        if self._next_sent:
            raise RuntimeApiError(f"{method} {path}: a /next is still unanswered")
        head = f"{method} {_API_PREFIX}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
        if method != "GET":
            head += f"Content-Length: {len(body)}\r\n"
        if headers:
            for name, value in headers.items():
                head += f"{name}: {value}\r\n"
        return self._exchange((head + "\r\n").encode("latin-1") + body)

    def next_invocation(self) -> Answer:
        """``GET /next``: the next event, its answer read if the request went out already."""
        if self._next_sent:
            self._next_sent = False
            try:
                answer = self._read_answer()
            except (OSError, RuntimeApiError):
                answer = None
            if answer is not None:
                connection = answer[1].get("connection")
                if connection is not None and connection.lower() == "close":
                    self.close()
                return answer
            # Closed under the /next sent ahead (keep-alive ended after the answer's 202,
            # or the answer was refused): ask again on a new connection.
            self.close()
        return self._exchange(self._get_next)

    def post_answer(
        self, request_id: str, kind: bytes, payload: bytes, headers: bytes = b""
    ) -> tuple[int, bytes]:
        """POST ``payload`` to ``/invocation/<id>/<kind>``, the next ``GET /next`` behind it.

        ``headers`` are extra header lines (each ending in CRLF). Returns the POST's
        status and body; the event is read by :meth:`next_invocation`.
        """
        data = self._post % (request_id.encode("latin-1"), kind, len(payload), headers, payload)
        status, _, body = self._exchange(data, then_next=True)
        return status, body

    def _exchange(self, data: bytes, then_next: bool = False) -> Answer:
        # A kept-alive connection may have been closed by the server while we were busy;
        # that shows as a failed send or an empty answer, and a fresh connection fixes it.
        for attempt in (0, 1):
            reused = self._sock is not None
            if self._sock is None:
                self._sock = self._connect()
            try:
                self._sock.sendall(data)
                answer = self._read_ack() if then_next else self._read_answer()
            except (OSError, RuntimeApiError) as exc:
                self.close()
                if reused and attempt == 0:
                    continue
                raise RuntimeApiError(f"{_first_line(data)} failed: {exc}") from exc
            if answer is None:
                self.close()
                if reused and attempt == 0:
                    continue
                raise RuntimeApiError(f"{_first_line(data)}: connection closed without an answer")
            connection = answer[1].get("connection")
            if connection is not None and connection.lower() == "close":
                self.close()
            else:
                self._next_sent = then_next
            return answer
        raise RuntimeApiError(f"{_first_line(data)} failed")  # pragma: no cover

    def _read_ack(self) -> Answer | None:
        """The answer to an invoke's ``POST``. Lamina's ``202`` is the same bytes every time,
        so an answer byte-identical to the last one is taken without parsing it again."""
        buf = self._buf
        if not buf:
            chunk = self._sock.recv(65536)  # type: ignore[union-attr]  # only called while connected
            if not chunk:
                return None
            buf += chunk
        if self._ack is not None:
            raw, answer = self._ack
            if buf.startswith(raw):
                del buf[: len(raw)]
                return answer
        seen = bytes(buf) if len(buf) <= 1024 else b""
        answer = self._read_answer()
        size = self._framed
        if answer is not None and answer[0] == 202 and 0 < size <= len(seen):
            self._ack = (seen[:size], answer)
        return answer

    def _recv(self, size: int = 65536) -> bytes:
        assert self._sock is not None
        return self._sock.recv(size)

    def _read_answer(self) -> Answer | None:
        """The next answer on the connection, or None if it closed before one began."""
        buf = self._buf
        recv = self._sock.recv  # type: ignore[union-attr]  # only called while connected
        self._framed = 0
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = recv(65536)
            if not chunk:
                if buf:
                    raise RuntimeApiError("connection closed inside an answer's head")
                return None
            buf += chunk
        lines = buf[:end].decode("latin-1").split("\r\n")
        del buf[: end + 4]
        first = lines[0]
        parts = first.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise RuntimeApiError(f"bad status line {first[:80]!r}")
        status = int(parts[1])
        del lines[0]
        # Per event, the fewest operations that still read any server's head: a name has no
        # space before its colon in HTTP/1.1, so only the value is stripped.
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        coding = headers.get("transfer-encoding")
        if coding is not None and "chunked" in coding.lower():
            return status, headers, self._read_chunked()
        length = headers.get("content-length")
        if length is None:
            if status in (204, 304) or status < 200:
                return status, headers, b""
            # No framing: the body runs until the server closes the connection.
            while chunk := recv(65536):
                buf += chunk
            headers["connection"] = "close"
            return status, headers, self._take(len(buf))
        need = int(length)
        while len(buf) < need:
            chunk = recv(max(65536, need - len(buf)))
            if not chunk:
                raise RuntimeApiError("connection closed inside an answer's body")
            buf += chunk
        self._framed = end + 4 + need
        return status, headers, self._take(need)

    def _take(self, size: int) -> bytes:
        """The first ``size`` buffered bytes, removed from the buffer (one copy)."""
        buf = self._buf
        if size == len(buf):
            data = bytes(buf)
            buf.clear()
            return data
        with memoryview(buf) as view:
            data = bytes(view[:size])
        del buf[:size]
        return data

    def _read_line(self) -> bytes:
        buf = self._buf
        while (eol := buf.find(b"\r\n")) < 0:
            chunk = self._recv()
            if not chunk:
                raise RuntimeApiError("connection closed inside a chunked body")
            buf += chunk
        line = self._take(eol)
        del buf[:2]
        return line

    def _read_chunked(self) -> bytes:
        body = bytearray()
        buf = self._buf
        while True:
            try:
                size = int(self._read_line().split(b";")[0], 16)
            except ValueError:
                raise RuntimeApiError("bad chunk size in a chunked body") from None
            if size == 0:
                # Trailers, if any, are not used by the Runtime API: read up to the blank line.
                while self._read_line():
                    pass
                return bytes(body)
            while len(buf) < size + 2:
                chunk = self._recv()
                if not chunk:
                    raise RuntimeApiError("connection closed inside a chunked body")
                buf += chunk
            body += self._take(size)
            del buf[:2]


def _first_line(request: bytes) -> str:
    """``POST /invocation/<id>/response`` from a request's bytes, for error messages."""
    line = request[: request.find(b" HTTP/1.1\r\n")].decode("latin-1")
    return line.replace(_API_PREFIX, "", 1)


# --------------------------------------------------------------------------- context


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, raw: dict[str, object] | None) -> None:
        if raw:
            self.cognito_identity_id = raw.get("cognitoIdentityId")
            self.cognito_identity_pool_id = raw.get("cognitoIdentityPoolId")
        else:  # most invokes: no identity, and no lookups for one
            self.cognito_identity_id = self.cognito_identity_pool_id = None

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, raw: dict[str, object]) -> None:
        for name in self.__slots__:
            setattr(self, name, raw.get(name))


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, raw: dict[str, object]) -> None:
        client = raw.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = raw.get("custom")
        self.env = raw.get("env")


ContextEnv = tuple["str | None", "str | None", str, "str | None", "str | None"]


def read_context_env() -> ContextEnv:
    """The context's attributes that come from the environment's variables."""
    env = os.environ
    return (
        env.get("AWS_LAMBDA_FUNCTION_NAME"),
        env.get("AWS_LAMBDA_FUNCTION_VERSION"),
        # A string, as AWS's runtime hands it out (``"..." + context.memory_limit_in_mb`` works).
        env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "0",
        env.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
    )


# Lambda never changes those variables in an environment: the invoke loop reads them once
# as it starts (after a zygote's environment got its own), not five lookups per invoke.
_context_env: ContextEnv | None = None


class LambdaContext:
    """The ``context`` argument, with the attributes AWS's Python runtime provides.

    A plain object, as AWS's is: handlers and test helpers set attributes of their own on it.
    """

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None,
        client_context: dict[str, object] | None,
        identity: dict[str, object] | None,
        tenant_id: str | None,
    ) -> None:
        name, version, memory, group, stream = _context_env or read_context_env()
        self.aws_request_id = request_id
        self.function_name = name
        self.function_version = version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory
        self.log_group_name = group
        self.log_stream_name = stream
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity)
        self.tenant_id = tenant_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


# --------------------------------------------------------------------------- errors


class Fault(Exception):
    """An error of the runtime's own making, reported under a ``Runtime.*`` type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_body(
    error_type: str, message: str, trace: list[str], request_id: str
) -> dict[str, object]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace,
    }


def exception_body(exc: BaseException, request_id: str) -> dict[str, object]:
    """Describe a user exception the way AWS does: frames of this file are left out."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    first = 0
    while first < len(frames) and frames[first].filename in RUNTIME_FILES:
        first += 1
    # Plain 4-tuples format without the 3.11+ ``^^^^`` markers, as Lambda shows them.
    tuples = [(f.filename, f.lineno, f.name, f.line) for f in frames[first:]]
    trace = traceback.format_list(tuples)  # type: ignore[arg-type]
    return error_body(type(exc).__name__, str(exc), trace, request_id)


def log_error(body: dict[str, object]) -> None:
    """Print ``[ERROR] Type: message`` and the traceback, as Lambda's log shows it; in the
    JSON log format one JSON object on stdout: a timestamp, ``"level": "ERROR"`` and the
    error body (message, type, request id, stack trace)."""
    if _LOG_JSON:
        record = {"timestamp": time.strftime(_JSON_TIME_FORMAT, time.gmtime()), "level": "ERROR"}
        record.update(body)
        sys.stdout.write(json.dumps(record, ensure_ascii=_ENSURE_ASCII, default=str) + "\n")
        sys.stdout.flush()
        return
    line = "[ERROR]"
    if body["errorType"]:
        line += f" {body['errorType']}"
        if body["errorMessage"]:
            line += ":"
    if body["errorMessage"]:
        line += f" {body['errorMessage']}"
    lines = [line, "Traceback (most recent call last):"]
    for element in body["stackTrace"]:  # type: ignore[attr-defined]
        lines.extend(str(element).splitlines())
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- handler


def load_handler(spec: str) -> "Handler":
    """INIT: import ``module.function`` (``pkg.sub.mod.fn``, ``dir/mod.fn``) and find it."""
    modname, dot, fname = spec.rpartition(".")
    if not dot or not modname or not fname:
        raise Fault(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
        )
    modname = modname.replace("/", ".")
    if modname.split(".")[0] in sys.builtin_module_names:
        raise Fault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {modname} as a handler module",
        )
    try:
        module: ModuleType = importlib.import_module(modname)
    except ImportError as exc:
        raise Fault(
            "Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}"
        ) from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise Fault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {exc}", trace
        ) from exc
    try:
        handler: Handler = getattr(module, fname)
    except AttributeError:
        raise Fault(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        ) from None
    return handler


def _json_default(obj: object) -> object:
    # DynamoDB hands out Decimals; AWS's runtime encodes them as numbers.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        if obj.is_nan():
            return float("nan")
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# What ``json.dumps(result, ensure_ascii=_ENSURE_ASCII, default=_json_default)`` uses, built
# once: with arguments of its own, ``json.dumps`` builds a new encoder at every call.
_result_encoder = json.JSONEncoder(ensure_ascii=_ENSURE_ASCII, default=_json_default)


def _c_encoder() -> "Callable[[object, int], Iterable[str]] | None":
    """The C encoder ``JSONEncoder.encode`` makes anew at every call, made once (and again
    after a failure): the same bytes, without the ~40 Python operations of ``encode`` and
    ``iterencode``. None where the C accelerator is missing or takes other arguments (then
    ``encode`` runs)."""
    from json import encoder

    make = encoder.c_make_encoder
    if make is None:
        return None
    strings = encoder.encode_basestring_ascii if _ENSURE_ASCII else encoder.encode_basestring
    e = _result_encoder
    try:
        # ``{}``: the markers that catch a circular reference (emptied again after each call).
        made: Callable[[object, int], Iterable[str]] = make(
            {}, e.default, strings, e.indent, e.key_separator, e.item_separator,
            e.sort_keys, e.skipkeys, e.allow_nan,
        )  # fmt: skip
    except TypeError:  # pragma: no cover - a CPython whose accelerator changed its arguments
        return None
    return made


_encode_c = _c_encoder()


def marshal(result: object) -> bytes:
    global _encode_c
    if isinstance(result, bytes):
        return result
    try:
        if _encode_c is not None:
            return "".join(_encode_c(result, 0)).encode("utf-8", "surrogatepass")
        return _result_encoder.encode(result).encode("utf-8", "surrogatepass")
    except Exception as exc:
        # A failure can leave the markers of the objects it was inside: start clean.
        _encode_c = _c_encoder()
        raise Fault("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None


# The default decoder's scanner (C): ``json.loads(body)`` with neither its encoding sniffing
# nor its two whitespace matches, for the usual event (UTF-8, no space around the value).
_scan_once = json.JSONDecoder().scan_once


def unmarshal(body: bytes) -> object:
    """The event: exactly ``json.loads(body)``; any unusual body is left to ``json.loads``."""
    try:
        text = body.decode("utf-8", "surrogatepass")
        value, end = _scan_once(text, 0)
        if end == len(text) or not text[end:].strip(" \t\n\r"):
            return value
    except (ValueError, StopIteration):
        pass  # a BOM, another UTF, leading space, or bad JSON: json.loads says which
    return json.loads(body)


def _parse_json_header(raw: str | None, what: str) -> dict[str, object] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise Fault(
            "Runtime.LambdaContextUnmarshalError", f"Unable to parse {what} JSON: {exc}"
        ) from None
    return value if isinstance(value, dict) else None


def handle(
    client: RuntimeApiClient, handler: "Handler", body: bytes, headers: dict[str, str]
) -> None:
    """Run one event through the handler and post its answer."""
    global _current_headers
    get = headers.get
    request_id = get("lambda-runtime-aws-request-id", "")
    _current_headers = headers
    # The one environment variable Lambda's runtimes set per invoke (X-Ray reads it).
    trace_id = get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    error: dict[str, object] | None = None
    payload = b""
    try:
        client_context = get("lambda-runtime-client-context")
        identity = get("lambda-runtime-cognito-identity")
        context = LambdaContext(
            request_id,
            int(get("lambda-runtime-deadline-ms") or 0),
            get("lambda-runtime-invoked-function-arn"),
            _parse_json_header(client_context, "Client Context") if client_context else None,
            _parse_json_header(identity, "Cognito Identity") if identity else None,
            get("lambda-runtime-aws-tenant-id"),
        )
        try:
            event = unmarshal(body) if body else None
        except ValueError as exc:
            raise Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from None
        payload = marshal(handler(event, context))
    except Fault as fault:
        error = error_body(fault.error_type, fault.message, fault.trace, request_id)
    except Exception as exc:
        error = exception_body(exc, request_id)
    if error is not None:
        log_error(error)
    # Everything the handler printed must reach the log before the invoke is declared over.
    sys.stdout.flush()
    sys.stderr.flush()
    if error is None:
        status, answer = client.post_answer(request_id, b"response", payload)
    else:
        status, answer = client.post_answer(request_id, b"error", _dumps(error), _JSON_TYPE)
    if status != 202:
        sys.stderr.write(
            f"Runtime API refused the answer for {request_id}: {status} {answer[:200]!r}\n"
        )


_JSON_TYPE = b"Content-Type: application/json\r\n"


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- logging


_JSON_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# A record's attributes that are never copied into a JSON line as extra keys: the
# ``LogRecord`` attributes (``extra=`` cannot set them) and what the runtime adds itself.
_RECORD_ATTRIBUTES = frozenset((
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
    "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
    "relativeCreated", "thread", "threadName", "processName", "process", "aws_request_id",
    "tenant_id", "_frame_type",
))  # fmt: skip


def json_log_record(record: object) -> dict[str, object]:
    """The JSON object AWS's Python runtime writes for a ``logging`` record.

    The keys in AWS's order (``timestamp``, ``level``, ``message``, ``logger``, for an
    exception ``stackTrace``, ``errorType``, ``errorMessage``, then ``requestId``, for an
    exception ``location``, ``tenantId`` when there is one), then the record's own
    attributes (``extra=``), and no key whose value is None. The record's level is rounded
    down to a standard one (25 is INFO) and renamed in place, as AWS's formatter does.
    """
    import logging  # already loaded: a record exists

    r: logging.LogRecord = record  # type: ignore[assignment]
    level = min(50, max(0, r.levelno)) // 10 * 10
    r.levelno = level
    r.levelname = logging.getLevelName(level)
    msg = r.msg
    exc_info = r.exc_info
    result: dict[str, object] = {
        "timestamp": time.strftime(_JSON_TIME_FORMAT, time.gmtime(r.created)),
        "level": r.levelname,
        # A dict logged on its own stays an object; anything else is the formatted text.
        "message": msg if isinstance(msg, dict) and not r.args else r.getMessage(),
        "logger": r.name,
    }
    if exc_info:
        import traceback

        result["stackTrace"] = traceback.format_tb(exc_info[2])
        result["errorType"] = exc_info[0].__name__ if exc_info[0] is not None else None
        result["errorMessage"] = str(exc_info[1])
    result["requestId"] = getattr(r, "aws_request_id", None)
    if exc_info:
        result["location"] = f"{r.pathname}:{r.funcName}:{r.lineno}"
    tenant_id = getattr(r, "tenant_id", None)
    if tenant_id is not None:
        result["tenantId"] = tenant_id
    for key, value in r.__dict__.items():
        if key not in _RECORD_ATTRIBUTES and key not in result:
            result[key] = value
    return {key: value for key, value in result.items() if value is not None}


# How JSON log lines are encoded: non-ASCII as it is, anything JSON cannot hold as its str().
_log_encoder = json.JSONEncoder(ensure_ascii=False, default=str)


def _configure_root_logger(logging: "ModuleType") -> None:
    """Give the root logger Lambda's line format (or its JSON records, in the JSON log
    format) and ``AWS_LAMBDA_LOG_LEVEL``, unless something configured it already."""
    root = logging.getLogger()
    if root.handlers:
        return

    class _RequestIdFilter(logging.Filter):  # type: ignore[name-defined,misc]
        def filter(self, record: object) -> bool:
            headers = _current_headers
            record.aws_request_id = headers.get("lambda-runtime-aws-request-id", "")  # type: ignore[attr-defined]
            record.tenant_id = headers.get("lambda-runtime-aws-tenant-id")  # type: ignore[attr-defined]
            return True

    handler = logging.StreamHandler(sys.stdout)
    if _LOG_JSON:

        class _JsonFormatter(logging.Formatter):  # type: ignore[name-defined,misc]
            """One JSON object per record, on one line (newlines stay escaped inside)."""

            def format(self, record: object) -> str:
                return _log_encoder.encode(json_log_record(record))

        formatter = _JsonFormatter(datefmt=_JSON_TIME_FORMAT)
    else:
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)
    # As AWS's runtime: TRACE is DEBUG, a name logging does not know leaves the level alone
    # (WARNING, Python's default), and the level applies in either format.
    level = "DEBUG" if _LOG_LEVEL == "TRACE" else _LOG_LEVEL
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)


class _ConfigureLoggingOnImport:
    """A meta-path finder that configures ``logging`` the moment it is first imported.

    AWS's runtime sets up the root logger before it imports the handler's module, and code
    relies on that: Powertools' Logger adds its duplicate-suppressing filter to the root
    logger's handlers when it is created, and ``logging.basicConfig()`` does nothing when a
    handler is already there. Nothing can observe the root logger without importing
    ``logging`` first, so configuring it as that import finishes is the same to every
    function, and keeps ``logging`` (~5 ms here) off the cold start of those that never use it.
    """

    def find_spec(
        self, name: str, path: object = None, target: object = None
    ) -> "importlib.machinery.ModuleSpec | None":
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name)
        loader = spec.loader if spec is not None else None
        exec_module = getattr(loader, "exec_module", None)
        if spec is None or exec_module is None:
            return None  # an unusual install: let the normal finders load it unconfigured

        def exec_and_configure(module: "ModuleType") -> None:
            exec_module(module)
            _configure_root_logger(module)

        loader.exec_module = exec_and_configure  # type: ignore[union-attr]
        return spec


def setup_logging() -> None:
    """Configure ``logging`` before the function's code runs (at once if already imported)."""
    logging = sys.modules.get("logging")
    if logging is not None:
        _configure_root_logger(logging)
    elif not any(isinstance(f, _ConfigureLoggingOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _ConfigureLoggingOnImport())


# --------------------------------------------------------------------------- main


def _line_buffered_stdio() -> None:
    # The platform reads our output from a pipe; a block-buffered pipe would hold log
    # lines back until exit. ``python -u`` already does better than this.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and not getattr(stream, "write_through", False):
            reconfigure(line_buffering=True)


def load_or_error(spec: str) -> "tuple[Handler | None, dict[str, object] | None]":
    """INIT's function part: the handler, or the error body Lambda would report."""
    setup_logging()
    try:
        handler = load_handler(spec)
    except Fault as fault:
        return None, error_body(fault.error_type, fault.message, fault.trace, "")
    except Exception as exc:  # an exception raised by the module's own top-level code
        return None, exception_body(exc, "")
    return handler, None


def report_init_error(client: RuntimeApiClient, error: "dict[str, object]") -> None:
    """Log an INIT error, post it to ``/init/error`` and exit 1, like Lambda's runtimes."""
    log_error(error)
    try:
        client.request(
            "POST",
            "/init/error",
            _dumps(error),
            {
                "Lambda-Runtime-Function-Error-Type": str(error["errorType"]),
                "Content-Type": "application/json",
            },
        )
    except RuntimeApiError as exc:
        sys.stderr.write(f"could not report the init error: {exc}\n")
    sys.exit(1)


# What AWS's Python runtime logs (a WARNING through ``logging``) before the error of an
# INIT that failed to load the function.
UNHANDLED_INIT_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function "
    "code. However, in rare cases, a Lambda runtime update can cause unexpected function "
    "behavior. For functions using managed runtimes, runtime updates can be triggered by a "
    "function change, or can be applied automatically. To determine if the runtime has been "
    "updated, check the runtime version in the INIT_START log entry. If this error correlates "
    "with a change in the runtime version, you may be able to mitigate this error by "
    "temporarily rolling back to the previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)


def warn_init_failed() -> None:
    """In the JSON log format, the WARNING record AWS's runtime writes when INIT could not
    load the function (its text line is not written: Lamina's text log keeps its shape)."""
    if _LOG_JSON:
        import logging

        logging.warning(UNHANDLED_INIT_WARNING)


def _init(client: RuntimeApiClient, spec: str) -> "Handler":
    """Import the handler; on failure report to ``/init/error`` and exit 1, like Lambda."""
    handler, error = load_or_error(spec)
    if error is not None:
        warn_init_failed()
        report_init_error(client, error)
    assert handler is not None
    return handler


def setup_path() -> None:
    """Put the task root first, then the layers' paths, as on Lambda; this directory last.

    This directory stays importable (last) for ``snapshot_restore_py``, which Lambda's
    Python runtimes ship: code written for SnapStart imports it unchanged, and a copy the
    function bundles itself wins because the task root comes first.
    """
    env = os.environ
    task_root = env.get("LAMBDA_TASK_ROOT") or os.getcwd()
    here = os.path.dirname(_BOOTSTRAP_FILE)
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    front = [task_root]
    # Layers, as Lambda orders them: their site-packages, then /opt/python.
    major, minor = sys.version_info[:2]
    layer_site = f"/opt/python/lib/python{major}.{minor}/site-packages"
    front += [p for p in (layer_site, "/opt/python") if os.path.isdir(p)]
    rest = [p for p in sys.path if p not in front and p != here]
    sys.path[:] = [*front, *rest, here]


def runtime_api_client() -> RuntimeApiClient:
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write("AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(1)
    return RuntimeApiClient(address)


def serve(client: RuntimeApiClient, handler: "Handler") -> None:
    """The invoke loop: pull an event, run it, post the answer, forever."""
    global _context_env
    _context_env = read_context_env()
    try:
        while True:
            status, headers, body = client.next_invocation()
            if status != 200:
                sys.stderr.write(f"/next answered {status}, exiting: {body[:200]!r}\n")
                sys.exit(1)
            handle(client, handler, body, headers)
    except RuntimeApiError as exc:
        sys.stderr.write(f"Runtime API unreachable, exiting: {exc}\n")
        sys.exit(1)


def main() -> None:
    _line_buffered_stdio()
    setup_path()
    client = runtime_api_client()
    handler = _init(client, os.environ.get("_HANDLER", ""))
    serve(client, handler)


if __name__ == "__main__":
    main()
