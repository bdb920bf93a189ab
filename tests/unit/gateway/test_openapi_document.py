"""The generated OpenAPI document: every route of the table is in it, as it is served."""

from __future__ import annotations

from starlette.routing import Route

from noetl_pg.gateway.app import create_app
from noetl_pg.gateway.endpoints import ENDPOINTS
from noetl_pg.gateway.openapi import document_path, openapi_document
from noetl_pg.gateway.route_table import Endpoint, Reply

DOCUMENT = openapi_document(ENDPOINTS)


def test_every_served_route_is_documented_with_its_method():
    app = create_app("postgresql:///unused")
    served = [route for route in app.routes if isinstance(route, Route)]
    assert served
    for route in served:
        operations = DOCUMENT["paths"][document_path(route.path)]
        assert set(operations) == {m.lower() for m in route.methods or () if m != "HEAD"}


def test_every_operation_documents_its_statuses_with_the_error_shape():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert statuses, (method, path)
            for status in statuses - {"200", "201", "202"}:
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema["$ref"].rsplit("/", 1)[1] in {"Error", "Unavailable"}, status
            if operation.get("security") != []:
                assert "401" in statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= statuses, (method, path)


def test_every_reference_resolves():
    schemas = DOCUMENT["components"]["schemas"]

    def refs(value):
        if isinstance(value, dict):
            if "$ref" in value:
                yield value["$ref"]
            for item in value.values():
                yield from refs(item)
        elif isinstance(value, list):
            for item in value:
                yield from refs(item)

    for ref in refs(DOCUMENT):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref


def test_an_appended_endpoint_is_served_and_documented():
    async def hello(request):  # pragma: no cover - never called
        raise AssertionError

    extra = Endpoint("GET", "/api/v2/hello", hello, "Say hello", {200: Reply("hi", None)})
    document = openapi_document([*ENDPOINTS, extra])
    assert document["paths"]["/api/v2/hello"]["get"]["summary"] == "Say hello"
    assert "401" in document["paths"]["/api/v2/hello"]["get"]["responses"]


def test_the_document_is_openapi_3_1_and_the_execution_model_is_named_apart():
    assert DOCUMENT["openapi"] == "3.1.0"
    assert "ExecutionDetail" in DOCUMENT["components"]["schemas"]
    assert "ExecutionState" not in DOCUMENT["components"]["schemas"]
