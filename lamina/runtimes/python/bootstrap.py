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
    from collections.abc import Callable
    from types import ModuleType

    Handler = Callable[[object, "LambdaContext"], object]

_API_PREFIX = "/2018-06-01/runtime"
_BOOTSTRAP_FILE = os.path.abspath(__file__)
# Frames of these files are the runtime's, not the function's: tracebacks leave them out.
RUNTIME_FILES = {_BOOTSTRAP_FILE}
# AWS's Python 3.12+ runtimes answer with raw UTF-8 instead of \u escapes.
_ENSURE_ASCII = sys.version_info < (3, 12)
# The request being handled, for log lines written through ``logging``.
_current_request_id = ""


# --------------------------------------------------------------------------- HTTP client


class RuntimeApiError(Exception):
    """Raised when the Runtime API cannot be reached or answers nonsense."""


class RuntimeApiClient:
    """HTTP/1.1 over one keep-alive TCP connection, reopened if the server closed it."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._host = host.strip("[]") or "127.0.0.1"
        self._port = int(port)
        self._host_header = address
        self._sock: _socket.socket | None = None

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

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request and read its whole answer: (status, lower-cased headers, body)."""
        head = f"{method} {_API_PREFIX}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
        if method != "GET":
            head += f"Content-Length: {len(body)}\r\n"
        if headers:
            for name, value in headers.items():
                head += f"{name}: {value}\r\n"
        data = (head + "\r\n").encode("latin-1") + body
        # A kept-alive connection may have been closed by the server while we were busy;
        # that shows as a failed send or an empty answer, and a fresh connection fixes it.
        for attempt in (0, 1):
            reused = self._sock is not None
            if self._sock is None:
                self._sock = self._connect()
            try:
                self._sock.sendall(data)
                answer = self._read_answer(self._sock)
            except (OSError, RuntimeApiError) as exc:
                self.close()
                if reused and attempt == 0:
                    continue
                raise RuntimeApiError(f"{method} {path} failed: {exc}") from exc
            if answer is None:
                self.close()
                if reused and attempt == 0:
                    continue
                raise RuntimeApiError(f"{method} {path}: connection closed without an answer")
            status, answer_headers, answer_body = answer
            if answer_headers.get("connection", "").lower() == "close":
                self.close()
            return status, answer_headers, answer_body
        raise RuntimeApiError(f"{method} {path} failed")  # pragma: no cover - loop returns

    @staticmethod
    def _read_answer(sock: _socket.socket) -> tuple[int, dict[str, str], bytes] | None:
        buf = bytearray()
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                if buf:
                    raise RuntimeApiError("connection closed inside an answer's head")
                return None
            buf += chunk
        lines = buf[:end].decode("latin-1").split("\r\n")
        rest = buf[end + 4 :]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise RuntimeApiError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return status, headers, _read_chunked(sock, rest)
        length = headers.get("content-length")
        if length is None:
            if status in (204, 304) or status < 200:
                return status, headers, b""
            # No framing: the body runs until the server closes the connection.
            while chunk := sock.recv(65536):
                rest += chunk
            headers["connection"] = "close"
            return status, headers, bytes(rest)
        need = int(length)
        while len(rest) < need:
            chunk = sock.recv(max(65536, need - len(rest)))
            if not chunk:
                raise RuntimeApiError("connection closed inside an answer's body")
            rest += chunk
        return status, headers, bytes(rest[:need])


def _read_chunked(sock: _socket.socket, buf: bytearray) -> bytes:
    body = bytearray()
    while True:
        while (eol := buf.find(b"\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeApiError("connection closed inside a chunked body")
            buf += chunk
        size = int(bytes(buf[:eol]).split(b";")[0], 16)
        del buf[: eol + 2]
        while len(buf) < size + 2:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeApiError("connection closed inside a chunked body")
            buf += chunk
        if size == 0:
            return bytes(body)  # trailers, if any, are not used by the Runtime API
        body += buf[:size]
        del buf[: size + 2]


# --------------------------------------------------------------------------- context


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, raw: dict[str, object] | None) -> None:
        raw = raw or {}
        self.cognito_identity_id = raw.get("cognitoIdentityId")
        self.cognito_identity_pool_id = raw.get("cognitoIdentityPoolId")

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


class LambdaContext:
    """The ``context`` argument, with the attributes AWS's Python runtime provides."""

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None,
        client_context: dict[str, object] | None,
        identity: dict[str, object] | None,
        tenant_id: str | None,
    ) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        # A string, as AWS's runtime hands it out (``"..." + context.memory_limit_in_mb`` works).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "0"
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
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
    """Print ``[ERROR] Type: message`` and the traceback, as Lambda's log shows it."""
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


def marshal(result: object) -> bytes:
    if isinstance(result, bytes):
        return result
    try:
        return json.dumps(result, ensure_ascii=_ENSURE_ASCII, default=_json_default).encode(
            "utf-8", "surrogatepass"
        )
    except Exception as exc:
        raise Fault("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None


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
    global _current_request_id
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    _current_request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    error: dict[str, object] | None = None
    payload = b""
    try:
        context = LambdaContext(
            request_id,
            int(headers.get("lambda-runtime-deadline-ms") or 0),
            headers.get("lambda-runtime-invoked-function-arn"),
            _parse_json_header(headers.get("lambda-runtime-client-context"), "Client Context"),
            _parse_json_header(headers.get("lambda-runtime-cognito-identity"), "Cognito Identity"),
            headers.get("lambda-runtime-aws-tenant-id"),
        )
        try:
            event = json.loads(body) if body else None
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
        status, _, answer = client.request("POST", f"/invocation/{request_id}/response", payload)
    else:
        status, _, answer = client.request(
            "POST",
            f"/invocation/{request_id}/error",
            _dumps(error),
            {"Content-Type": "application/json"},
        )
    if status != 202:
        sys.stderr.write(
            f"Runtime API refused the answer for {request_id}: {status} {answer[:200]!r}\n"
        )


def _dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- logging


def _configure_root_logger(logging: "ModuleType") -> None:
    """Give the root logger Lambda's line format, unless something configured it already."""
    root = logging.getLogger()
    if root.handlers:
        return

    class _RequestIdFilter(logging.Filter):  # type: ignore[name-defined,misc]
        def filter(self, record: object) -> bool:
            record.aws_request_id = _current_request_id  # type: ignore[attr-defined]
            return True

    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)


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


def _init(client: RuntimeApiClient, spec: str) -> "Handler":
    """Import the handler; on failure report to ``/init/error`` and exit 1, like Lambda."""
    handler, error = load_or_error(spec)
    if error is not None:
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
    try:
        while True:
            status, headers, body = client.request("GET", "/invocation/next")
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
