"""Function URL configurations: pure values, validation with Lambda's messages, JSON form.

Lamina stores these here (the control plane); serving HTTP on them is the event sources'
work, which finds a configuration by its ``url_id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal, cast

from lamina.errors import InvalidParameterValue

AuthType = Literal["NONE", "AWS_IAM"]
InvokeMode = Literal["BUFFERED", "RESPONSE_STREAM"]
_QUALIFIER = re.compile(r"^(?!\d+$)[0-9a-zA-Z-_]{1,128}$")
_METHODS = {"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"}


@dataclass(frozen=True, slots=True)
class Cors:
    """A URL's CORS settings, as Lambda's ``Cors`` shape holds them."""

    allow_credentials: bool | None = None
    allow_headers: tuple[str, ...] | None = None
    allow_methods: tuple[str, ...] | None = None
    allow_origins: tuple[str, ...] | None = None
    expose_headers: tuple[str, ...] | None = None
    max_age: int | None = None

    def to_api(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in (
            ("AllowCredentials", self.allow_credentials),
            ("AllowHeaders", self.allow_headers),
            ("AllowMethods", self.allow_methods),
            ("AllowOrigins", self.allow_origins),
            ("ExposeHeaders", self.expose_headers),
            ("MaxAge", self.max_age),
        ):
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True)
class FunctionUrlConfig:
    """One function URL: of ``$LATEST`` (qualifier None) or of an alias."""

    function: str
    qualifier: str | None
    url_id: str  # 32 lower-case letters and digits, as Lambda's url-id
    auth_type: AuthType
    invoke_mode: InvokeMode = "BUFFERED"
    cors: Cors | None = None
    creation_time: str = ""
    last_modified_time: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> FunctionUrlConfig:
        data = json.loads(text)
        cors = data.get("cors")
        return FunctionUrlConfig(
            function=str(data["function"]),
            qualifier=data.get("qualifier"),
            url_id=str(data["url_id"]),
            auth_type=validate_auth_type(data["auth_type"]),
            invoke_mode=validate_invoke_mode(data.get("invoke_mode", "BUFFERED")),
            cors=None if cors is None else _cors_from_json(cors),
            creation_time=str(data.get("creation_time", "")),
            last_modified_time=str(data.get("last_modified_time", "")),
        )


def _cors_from_json(data: Mapping[str, object]) -> Cors:
    def strings(key: str) -> tuple[str, ...] | None:
        value = data.get(key)
        return None if value is None else tuple(str(v) for v in cast(list[object], value))

    max_age = data.get("max_age")
    credentials = data.get("allow_credentials")
    return Cors(
        allow_credentials=None if credentials is None else bool(credentials),
        allow_headers=strings("allow_headers"),
        allow_methods=strings("allow_methods"),
        allow_origins=strings("allow_origins"),
        expose_headers=strings("expose_headers"),
        max_age=None if max_age is None else int(cast(int, max_age)),
    )


def validate_url_qualifier(qualifier: str) -> str:
    if not _QUALIFIER.match(qualifier):
        raise InvalidParameterValue.constraint(
            "qualifier",
            "Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)",
            qualifier,
        )
    return qualifier


def validate_auth_type(value: object) -> AuthType:
    if value == "NONE":
        return "NONE"
    if value == "AWS_IAM":
        return "AWS_IAM"
    raise InvalidParameterValue.constraint(
        "authType", "Member must satisfy enum value set: [NONE, AWS_IAM]", value
    )


def validate_invoke_mode(value: object) -> InvokeMode:
    if value == "BUFFERED":
        return "BUFFERED"
    if value == "RESPONSE_STREAM":
        return "RESPONSE_STREAM"
    raise InvalidParameterValue.constraint(
        "invokeMode", "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]", value
    )


def _string_list(
    body: Mapping[str, object], key: str, field: str, most: int, longest: int
) -> tuple[str, ...] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterValue(f"Cors.{key} must be a list of strings")
    if len(value) > most:
        raise InvalidParameterValue.constraint(
            f"cors.{field}", f"Member must have length less than or equal to {most}"
        )
    for item in value:
        if not 1 <= len(item) <= longest:
            raise InvalidParameterValue.constraint(
                f"cors.{field}", f"Member must have length between 1 and {longest}", item
            )
    return tuple(value)


def parse_cors(body: object) -> Cors | None:
    """Lambda's ``Cors`` request shape → :class:`Cors` (None when absent)."""
    if body is None:
        return None
    if not isinstance(body, Mapping):
        raise InvalidParameterValue("Cors must be an object")
    credentials = body.get("AllowCredentials")
    if credentials is not None and not isinstance(credentials, bool):
        raise InvalidParameterValue("Cors.AllowCredentials must be true or false")
    methods = _string_list(body, "AllowMethods", "allowMethods", 6, 6)
    for method in methods or ():
        if method.upper() not in _METHODS:
            raise InvalidParameterValue.constraint(
                "cors.allowMethods",
                "Member must satisfy regular expression pattern: "
                ".*(GET|PUT|HEAD|POST|PATCH|DELETE|\\*).*",
                method,
            )
    max_age = body.get("MaxAge")
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= 86400
    ):
        raise InvalidParameterValue.constraint(
            "cors.maxAge", "Member must have value between 0 and 86400", max_age
        )
    return Cors(
        allow_credentials=credentials,
        allow_headers=_string_list(body, "AllowHeaders", "allowHeaders", 100, 1024),
        allow_methods=methods,
        allow_origins=_string_list(body, "AllowOrigins", "allowOrigins", 100, 253),
        expose_headers=_string_list(body, "ExposeHeaders", "exposeHeaders", 100, 1024),
        max_age=max_age,
    )
