"""docs/openapi.yaml describes the endpoints the servers really mount, as they really answer.

The document must be valid OpenAPI 3.1 (openapi-spec-validator), its paths must be exactly the
routes of ``build_routes`` (plus the standalone page's), each with the methods its handler
implements, and real answers of a running hub must match its schemas.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import HubProcess
from openapi_spec_validator import validate
from tornado.web import RequestHandler

from sse_widgets.server import endpoint_handlers, handlers
from sse_widgets.server.handlers import build_routes
from sse_widgets.server.page import page_routes
from sse_widgets.server.standalone import TokenAuth

SPEC_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete", "head")  # OPTIONS: the CORS preflight


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def openapi_path(pattern: str) -> str:
    """A Tornado route pattern as an OpenAPI path: ``/api/channels/([^/]+)`` -> ``{channel}``."""
    if pattern.startswith("/static/"):
        return "/static/{name}"
    if pattern.startswith("/api/endpoints/"):
        return pattern.replace("([^/]+)", "{name}", 1).replace("([^/]+)", "{call}")
    return pattern.replace("([^/]+)", "{channel}")


def implemented_methods(handler: type) -> set[str]:
    return {m for m in METHODS if getattr(handler, m) is not getattr(RequestHandler, m)}


def mounted_routes(auth_base: type, prefix: str) -> dict[str, set[str]]:
    """OpenAPI path -> methods, for the API routes below ``prefix`` (catch-all left out)."""
    routes = {}
    for pattern, handler in build_routes(prefix, auth_base):
        if handler.__name__ == "NotFoundHandler":
            assert pattern == prefix + "/(.*)"  # the JSON 404 for everything else
            continue
        routes[openapi_path(pattern.removeprefix(prefix))] = implemented_methods(handler)
    return routes


def operations(spec: dict[str, Any], path: str) -> set[str]:
    return {m for m in spec["paths"][path] if m in METHODS}


def test_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    assert spec["info"]["title"] and spec["info"]["version"]
    validate(spec)  # raises with the offending location


def test_servers_cover_jupyter_base_url_and_standalone(spec: dict[str, Any]) -> None:
    jupyter, standalone = spec["servers"]
    assert jupyter["url"].endswith("{base_url}sse-widgets")
    assert jupyter["variables"]["base_url"]["default"] == "/"
    assert standalone["url"] == "{scheme}://{host}"
    assert standalone["variables"]["host"]["default"] == "127.0.0.1:8765"


def test_paths_are_exactly_the_mounted_routes(spec: dict[str, Any]) -> None:
    from sse_widgets.server.extension import JupyterAuth

    api = mounted_routes(TokenAuth, "")
    assert mounted_routes(JupyterAuth, "/sse-widgets") == api  # both servers mount the same
    page = {openapi_path(p): implemented_methods(h) for p, h in page_routes("", TokenAuth)}
    documented = set(spec["paths"])
    assert documented == set(api) | set(page), (
        f"missing from openapi.yaml: {sorted(set(api) | set(page) - documented)}; "
        f"not mounted: {sorted(documented - set(api) - set(page))}"
    )
    for path, methods in {**api, **page}.items():
        assert operations(spec, path) == methods, f"{path}: the handler implements {methods}"


def test_page_paths_are_standalone_only(spec: dict[str, Any]) -> None:
    for pattern, _ in page_routes("", TokenAuth):
        servers = spec["paths"][openapi_path(pattern)]["servers"]
        assert [s["url"] for s in servers] == ["{scheme}://{host}"], pattern


def test_every_operation_documents_its_errors_as_json(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    for path, item in spec["paths"].items():
        for method in operations(spec, path):
            operation = item[method]
            assert operation.get("operationId"), (path, method)
            assert "403" in operation["responses"], (path, method)
            for status, response in operation["responses"].items():
                if int(status) < 400 or path == "/":  # the page's 403 is an HTML page
                    continue
                response = responses[response["$ref"].rsplit("/", 1)[-1]]
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)


def test_query_parameters_and_headers_the_handlers_read_are_documented(
    spec: dict[str, Any],
) -> None:
    parameters = list(spec["components"]["parameters"].values())
    for path, item in spec["paths"].items():
        for operation in [item] + [item[m] for m in operations(spec, path)]:
            parameters += [p for p in operation.get("parameters", []) if "$ref" not in p]
    documented = {(p["in"], p["name"].lower()) for p in parameters}
    source = Path(handlers.__file__).read_text(encoding="utf-8")
    source += Path(endpoint_handlers.__file__).read_text(encoding="utf-8")
    for name in set(re.findall(r'query_values\("(\w+)"\)', source)):
        assert ("query", name) in documented, f"query argument {name!r}"
    for name in set(re.findall(r'headers\.get\("([\w-]+)"\)', source)) - {
        "Content-Length",
        "Content-Type",
    }:
        assert ("header", name.lower()) in documented, f"header {name!r}"
    schemes = spec["components"]["securitySchemes"]
    assert {s.get("name") for s in schemes.values()} >= {"X-SSE-Widgets-Token", "token"}
    assert schemes["hubBearer"] == {**schemes["hubBearer"], "type": "http", "scheme": "bearer"}


# -- real answers match the schemas ---------------------------------------------------------


def schema_validator(spec: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(root)


def request(
    hub: HubProcess, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    headers.setdefault("Authorization", f"Bearer {hub.token}")
    req = urllib.request.Request(hub.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.backends
def test_a_running_hub_answers_as_documented(spec: dict[str, Any], hub_process: HubProcess) -> None:
    ndjson = b'{"channel":"spec","event":"log","data":{"message":"a"}}\n{"channel":"spec"}\n'
    status, headers, body = request(
        hub_process,
        "POST",
        "api/events",
        ndjson,
        **{"Content-Type": "application/x-ndjson", "Idempotency-Key": "k1"},
    )
    assert status == 200
    schema_validator(spec, "Published").validate(json.loads(body))
    status, headers, again = request(
        hub_process,
        "POST",
        "api/events",
        ndjson,
        **{"Content-Type": "application/x-ndjson", "Idempotency-Key": "k1"},
    )
    assert (status, again, headers.get("Idempotent-Replayed")) == (200, body, "true")

    status, _, body = request(hub_process, "GET", "api/channels")
    assert status == 200
    schema_validator(spec, "ChannelList").validate(json.loads(body))

    error = schema_validator(spec, "Error")
    cases = [
        ("GET", "api/channels", None, {"Authorization": "Bearer wrong"}, 403),
        ("POST", "api/channels/a%20b/events", b"{}", {"Content-Type": "application/json"}, 400),
        ("POST", "api/channels/spec/events", b"x", {"Content-Type": "text/plain"}, 415),
        ("DELETE", "api/channels/never-made", None, {}, 404),
        ("DELETE", "api/events", None, {}, 405),
        ("GET", "api/nothing-here", None, {}, 404),
        ("GET", "static/no_such.js", None, {}, 404),
    ]
    for method, path, payload, extra, expected in cases:
        status, headers, body = request(hub_process, method, path, payload, **extra)
        assert status == expected, (method, path, body)
        assert headers["Content-Type"].startswith("application/json")
        error.validate(json.loads(body))

    status, _, _ = request(hub_process, "DELETE", "api/channels/spec")
    assert status == 204
