"""The OpenAPI 3.1 description of the API Lamina serves, generated from the route table.

Lambda operations take their parameters, bodies, answers and errors from botocore's
service model for Lambda (the authority on shapes); Lamina's own endpoints are described
here. The result is checked in as ``openapi.json`` (served at ``/lamina/v1/openapi.json``)
and a test regenerates it, so it cannot drift from the routes. Regenerate with::

    .venv/bin/python -m lamina.api.openapi > lamina/api/openapi.json

botocore is a development dependency: it is imported only when generating.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from lamina.api.routes import ROUTES, Route

Schema = dict[str, Any]
_REF = "#/components/schemas/"
_AUTH_ERRORS = (
    "MissingAuthenticationTokenException, IncompleteSignatureException, "
    "UnrecognizedClientException, InvalidSignatureException, AccessDeniedException"
)

# Lamina's own endpoints: summary, query parameters, answer schema and content type.
_STRING = {"type": "string"}
_INT = {"type": "integer"}
_API = {
    "type": "object",
    "required": ["apiId", "name", "kind", "stage", "port", "url", "routes"],
    "properties": {
        "apiId": _STRING,
        "name": _STRING,
        "kind": {"type": "string", "enum": ["rest", "http"]},
        "stage": _STRING,
        "port": _INT,
        "url": _STRING,
        "routes": {"type": "array", "items": {"type": "object"}},
    },
}
LAMINA_OPERATIONS: dict[str, dict[str, Any]] = {
    "LaminaHealth": {
        "summary": "Liveness, and how many functions and environments there are (no SigV4). "
        "On a cluster, `environments` counts the nodes' and `nodes` gives each node's count.",
        "schema": {
            "type": "object",
            "required": ["status", "functions", "environments", "sandbox"],
            "properties": {
                "status": _STRING,
                "functions": _INT,
                "environments": _INT,
                "sandbox": _STRING,
                "nodes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["node", "environments", "answered"],
                        "properties": {
                            "node": _STRING,
                            "environments": _INT,
                            "answered": {"type": "boolean"},
                            "age_s": {"type": "number"},
                        },
                    },
                },
            },
        },
    },
    "LaminaListEnvironments": {
        "summary": "Every execution environment and its state; on a cluster, each with its "
        "node (`Node`), and each node's answer (`Nodes`).",
        "schema": {
            "type": "object",
            "required": ["Environments"],
            "properties": {
                "Environments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Id", "Function", "State", "Invocations"],
                        "properties": {
                            "Id": _STRING,
                            "Function": _STRING,
                            "State": {
                                "type": "string",
                                "enum": ["starting", "busy", "idle", "frozen", "dead"],
                            },
                            "Invocations": _INT,
                            "Node": _STRING,
                        },
                    },
                },
                "Nodes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Node", "Answered", "Environments"],
                        "properties": {
                            "Node": _STRING,
                            "Answered": {"type": "boolean"},
                            "Environments": _INT,
                            "AgeSeconds": {"type": "number"},
                        },
                    },
                },
            },
        },
    },
    "LaminaGetTelemetry": {
        "summary": "A function's recent telemetry events (the server's bus: what the "
        "Telemetry API delivers), after sequence number `after`; `limit=0` answers only "
        "the bus's current position.",
        "query": {"after": "integer", "limit": "integer"},
        "schema": {
            "type": "object",
            "required": ["events", "last"],
            "properties": {
                "last": _INT,
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["seq", "time", "type", "record", "text"],
                        "properties": {
                            "seq": _INT,
                            "time": _INT,
                            "type": _STRING,
                            "record": {},
                            "text": _STRING,
                        },
                    },
                },
            },
        },
    },
    "LaminaGetLogs": {
        "summary": "A function's log events (START/END/REPORT and its output).",
        "query": {"since": "integer", "limit": "integer"},
        "schema": {
            "type": "object",
            "required": ["events"],
            "properties": {
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["timestamp", "message", "logStreamName"],
                        "properties": {
                            "timestamp": _INT,
                            "message": _STRING,
                            "logStreamName": _STRING,
                        },
                    },
                }
            },
        },
    },
    "LaminaGetCost": {
        "summary": "What each function cost, from the billing ledger.",
        "query": {"function": "string"},
        "schema": {
            "type": "object",
            "required": ["functions"],
            "properties": {"functions": {"type": "array", "items": {"type": "object"}}},
        },
    },
    "LaminaGetLedger": {
        "summary": "The billing ledger's report views: per function, version or UTC day, "
        "per month, and each function's billed-duration histogram (what `lamina cost` reads).",
        "query": {"function": "string", "by": "string", "since": "number", "until": "number"},
        "schema": {
            "type": "object",
            "required": ["groups", "months", "workloads"],
            "properties": {
                "groups": {"type": "array", "items": {"type": "object"}},
                "months": {"type": "array", "items": {"type": "object"}},
                "workloads": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
    "LaminaListApis": {
        "summary": "The APIs defined on this server (each on its own port), and the routes "
        "file's listener.",
        "schema": {
            "type": "object",
            "required": ["apis"],
            "properties": {
                "apis": {"type": "array", "items": _API},
                "routesFile": {"type": "object"},
            },
        },
    },
    "LaminaPutApi": {
        "summary": "Define or replace an API (routes, stage, kind); served at once on its own "
        "port, routes changed live.",
        "body": {
            "type": "object",
            "properties": {
                "name": _STRING,
                "kind": {"type": "string", "enum": ["rest", "http"]},
                "stage": _STRING,
                "port": _INT,
                "routes": {"type": "array", "items": {"type": "object"}},
            },
        },
        "schema": _API,
    },
    "LaminaGetApi": {"summary": "One API, with its port and URL.", "schema": _API},
    "LaminaDeleteApi": {"summary": "Stop serving an API and forget it."},
    "LaminaListRuntimes": {
        "summary": "Which interpreter runs each runtime on this host.",
        "schema": {
            "type": "object",
            "required": ["runtimes"],
            "properties": {
                "runtimes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["runtime", "interpreter", "version", "note"],
                        "properties": {
                            "runtime": _STRING,
                            "interpreter": {"type": ["string", "null"]},
                            "version": _STRING,
                            "note": _STRING,
                        },
                    },
                }
            },
        },
    },
    "LaminaGetCode": {
        "summary": "A stored code package (GetFunction's Code.Location, presigned).",
        "content": "application/zip",
    },
    "LaminaGetClusterCode": {
        "summary": "A code package or layer archive by its hex SHA-256, streamed (node agents).",
        "content": "application/zip",
    },
    "LaminaGetOpenApi": {"summary": "This document.", "schema": {"type": "object"}},
}


# Operations botocore puts on another operation's path, told apart by a query parameter.
SHARED_PATHS: dict[str, tuple[str, str]] = {
    "ListLayers": ("GetLayerVersionByArn", "find=LayerVersion"),
}


class _Builder:
    def __init__(self, model: dict[str, Any]) -> None:
        self.model = model
        self.shapes: dict[str, Any] = model["shapes"]
        self.components: dict[str, Schema] = {}

    # -- shapes → JSON Schema -----------------------------------------------------------
    def ref(self, name: str) -> Schema:
        shape = self.shapes[name]
        if shape["type"] != "structure":
            return self.inline(name)
        if name not in self.components:
            self.components[name] = {}  # placeholder: shapes may be recursive
            self.components[name] = self.structure(name, shape["members"])
        return {"$ref": _REF + name}

    def structure(self, name: str, members: dict[str, Any]) -> Schema:
        required = [m for m in self.shapes[name].get("required", []) if m in members]
        schema: Schema = {
            "type": "object",
            "properties": {m: self.ref(spec["shape"]) for m, spec in members.items()},
        }
        if required:
            schema["required"] = required
        return schema

    def inline(self, name: str) -> Schema:
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "list":
            return {"type": "array", "items": self.ref(shape["member"]["shape"])}
        if kind == "map":
            return {"type": "object", "additionalProperties": self.ref(shape["value"]["shape"])}
        if kind in ("integer", "long"):
            schema: Schema = {"type": "integer"}
            if "min" in shape:
                schema["minimum"] = shape["min"]
            if "max" in shape:
                schema["maximum"] = shape["max"]
            return schema
        if kind in ("double", "float"):
            schema = {"type": "number"}
            if "min" in shape:
                schema["minimum"] = shape["min"]
            if "max" in shape:
                schema["maximum"] = shape["max"]
            return schema
        if kind == "boolean":
            return {"type": "boolean"}
        if kind == "blob":
            return {"type": "string", "contentEncoding": "base64"}
        if kind == "timestamp":
            return {"type": "string"}
        schema = {"type": "string"}
        if "enum" in shape:
            schema["enum"] = list(shape["enum"])
        if "min" in shape:
            schema["minLength"] = shape["min"]
        if "max" in shape:
            schema["maxLength"] = shape["max"]
        return schema

    # -- operations ---------------------------------------------------------------------
    def lambda_operation(self, route: Route) -> Schema:
        op = self.model["operations"][route.operation]
        doc: Schema = {"operationId": route.operation, "tags": ["Lambda"]}
        doc["summary"] = f"Lambda {route.operation} (botocore's service model)."
        parameters: list[Schema] = []
        body_members: dict[str, Any] = {}
        input_shape = op.get("input", {}).get("shape")
        payload = None
        if input_shape:
            shape = self.shapes[input_shape]
            payload = shape.get("payload")
            for member, spec in shape["members"].items():
                location = spec.get("location")
                if location in ("uri", "querystring", "header"):
                    parameters.append(self.parameter(input_shape, member, spec))
                elif location is None and member != payload:
                    body_members[member] = spec
        if parameters:
            doc["parameters"] = parameters
        if payload is not None:
            doc["requestBody"] = {
                "content": {"application/octet-stream": {"schema": {}}},
                "description": f"The {payload}, as raw bytes (JSON for Invoke).",
            }
        elif body_members:
            doc["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": self.structure(input_shape, body_members)}
                },
            }
        doc["responses"] = self.responses(route, op)
        if route.operation in SHARED_PATHS:
            self.add_shared(doc, route, *SHARED_PATHS[route.operation])
        return doc

    def add_shared(self, doc: Schema, route: Route, other: str, query: str) -> None:
        """Document ``other``, served on ``route``'s path when the query has ``query``."""
        key, value = query.split("=")
        theirs = self.lambda_operation(Route(route.method, route.template, other, route.status))
        params = [{**p, "required": False} for p in theirs.get("parameters", [])]
        enum = {"type": "string", "enum": [value]}
        params.append({"name": key, "in": "query", "required": False, "schema": enum})
        doc["parameters"] = [*doc.get("parameters", []), *params]
        doc["description"] = f"With `?{query}&Arn=...`: Lambda {other}."
        ok = str(route.status)
        mine = doc["responses"][ok]["content"]["application/json"]["schema"]
        other_schema = theirs["responses"][ok]["content"]["application/json"]["schema"]
        doc["responses"][ok]["content"]["application/json"]["schema"] = {
            "anyOf": [mine, other_schema]
        }
        for status, answer in theirs["responses"].items():
            doc["responses"].setdefault(status, answer)

    def parameter(self, shape_name: str, member: str, spec: dict[str, Any]) -> Schema:
        location = {"uri": "path", "querystring": "query", "header": "header"}[spec["location"]]
        required = location == "path" or member in self.shapes[shape_name].get("required", [])
        param: Schema = {
            "name": spec.get("locationName", member),
            "in": location,
            "required": required,
            "schema": self.inline(spec["shape"]),
        }
        pattern = self.shapes[spec["shape"]].get("pattern")
        if pattern is not None and "\\p{" not in pattern:
            # Parameters only (answers are not held to the patterns: Lambda's own aren't),
            # anchored (botocore's Java patterns match the whole value, JSON Schema's any
            # part of it); Java's \p{L} classes have no portable spelling and are left out.
            param["schema"]["pattern"] = f"^(?:{pattern})$"
        if self.shapes[spec["shape"]]["type"] == "list":
            param["explode"] = True
        return param

    def responses(self, route: Route, op: dict[str, Any]) -> Schema:
        out: Schema = {}
        success: Schema = {"description": "Success."}
        output = op.get("output", {}).get("shape")
        if output and route.status != 204:
            shape = self.shapes[output]
            payload = shape.get("payload")
            headers: Schema = {}
            body: dict[str, Any] = {}
            for member, spec in shape["members"].items():
                location = spec.get("location")
                if location == "header":
                    headers[spec["locationName"]] = {"schema": self.inline(spec["shape"])}
                elif location is None and member != payload:
                    body[member] = spec
            if headers:
                success["headers"] = headers
            if payload is not None:
                stream = self.shapes[shape["members"][payload]["shape"]].get("eventstream")
                kind = (
                    "application/vnd.amazon.eventstream" if stream else "application/octet-stream"
                )
                success["content"] = {kind: {"schema": {}}}
            else:
                success["content"] = {"application/json": {"schema": self.structure(output, body)}}
        out[str(route.status)] = success
        errors: dict[int, list[str]] = {}
        for error in op.get("errors", []):
            status = self.shapes[error["shape"]].get("error", {}).get("httpStatusCode", 500)
            errors.setdefault(int(status), []).append(error["shape"])
        errors.setdefault(404, []).append("UnknownOperationException")
        for status, names in sorted(errors.items()):
            out[str(status)] = self.error_response(", ".join(sorted(set(names))))
        out["403"] = self.error_response(_AUTH_ERRORS)
        out.update(self.front_responses())
        return out

    @staticmethod
    def front_responses() -> Schema:
        """What the HTTP front answers any request over its limits (docs/sandbox.md)."""
        limit: Schema = {
            "description": "Over the HTTP front's limits.",
            "content": {"application/json": {"schema": {"$ref": _REF + "LaminaError"}}},
        }
        return {
            "413": {**limit, "description": "RequestTooLargeException: body over the limit."},
            "414": {**limit, "description": "Request line over the head limit."},
            "431": {**limit, "description": "Request head over its byte or header-count limit."},
        }

    @staticmethod
    def error_response(names: str) -> Schema:
        return {
            "description": names,
            "headers": {"x-amzn-ErrorType": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": _REF + "LaminaError"}}},
        }

    def lamina_operation(self, route: Route) -> Schema:
        spec = LAMINA_OPERATIONS[route.operation]
        doc: Schema = {
            "operationId": route.operation,
            "tags": ["Lamina"],
            "summary": spec["summary"],
        }
        params: list[Schema] = [
            {"name": seg[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for seg in route.segments
            if seg.startswith("{")
        ]
        params += [
            {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
            for name, kind in spec.get("query", {}).items()
        ]
        if params:
            doc["parameters"] = params
        content_type = spec.get("content", "application/json")
        schema = spec.get("schema", {"type": "string", "contentMediaType": content_type})
        success: Schema = {"description": "Success."}
        if route.status != 204:
            success["content"] = {content_type: {"schema": schema}}
        doc["responses"] = {
            str(route.status): success,
            "404": self.error_response("ResourceNotFoundException, UnknownOperationException"),
            "403": self.error_response(_AUTH_ERRORS),
        }
        if "body" in spec:
            doc["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": spec["body"]}},
            }
        if "body" in spec or "query" in spec:  # both are validated: bad values are 400
            doc["responses"]["400"] = self.error_response("InvalidParameterValueException")
        doc["responses"].update(self.front_responses())
        if route.operation == "LaminaHealth":
            doc["security"] = []
            del doc["responses"]["403"]
        return doc


def build(
    model: dict[str, Any], botocore_version: str, routes: tuple[Route, ...] = ROUTES
) -> Schema:
    """The whole document for ``routes``, from the Lambda service ``model``."""
    builder = _Builder(model)
    paths: dict[str, Schema] = {}
    for route in routes:
        op = builder.lamina_operation(route) if route.lamina else builder.lambda_operation(route)
        paths.setdefault(route.template, {})[route.method.lower()] = op
    builder.components["LaminaError"] = {
        "type": "object",
        "required": ["message"],
        "properties": {
            "Type": {"type": "string", "enum": ["User", "Service"]},
            "message": {"type": "string"},
            "Message": {"type": "string"},
            "Reason": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lamina: the Lambda API and Lamina's own endpoints",
            "version": "2015-03-31",
            "description": (
                "The AWS Lambda REST-JSON API as Lamina serves it (shapes from botocore's "
                "service model for Lambda), plus Lamina's /lamina/v1 endpoints. With access "
                "keys configured (LAMINA_ACCESS_KEYS), every request but /lamina/v1/health "
                "must be signed with AWS Signature Version 4 (service 'lambda'); in dev mode "
                "(no keys) unsigned requests are served too: see docs/api.md."
            ),
            "x-botocore-version": botocore_version,
        },
        "servers": [{"url": "http://127.0.0.1:9000"}],
        # Signed, or (dev mode) not at all: the empty requirement makes SigV4 optional.
        "security": [{"sigv4": []}, {}],
        "tags": [
            {"name": "Lambda", "description": "Lambda's control plane and Invoke."},
            {"name": "Lamina", "description": "Lamina's own endpoints."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 (AWS4-HMAC-SHA256), service 'lambda'.",
                }
            },
            "schemas": dict(sorted(builder.components.items())),
        },
    }


def generate() -> Schema:
    """Build from the installed botocore's model (development only)."""
    import botocore
    from botocore.loaders import Loader

    model = Loader().load_service_model("lambda", "service-2", "2015-03-31")
    return build(model, botocore.__version__)


def render(doc: Schema) -> str:
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(generate()))
