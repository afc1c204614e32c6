"""The OpenAPI schema generates without warnings and documents the real shapes; docs render."""

import pytest
import yaml
from django.core.management import call_command


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_has_every_endpoint(schema):
    assert set(schema["paths"]) >= {
        "/api/v1/models/",
        "/api/v1/models/{id}/",
        "/api/v1/models/by-key/{key}",
        "/api/v1/models/stats/",
        "/api/v1/providers/",
        "/api/v1/providers/{ref}/",
        "/api/v1/auth/token/",
    }


def test_separate_request_and_response_components(schema):
    components = schema["components"]["schemas"]
    assert {"AIModel", "AIModelCreateRequest", "AIModelUpdateRequest", "PatchedAIModelUpdateRequest"} <= set(
        components
    )
    create = schema["paths"]["/api/v1/models/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "AIModelCreateRequest"
    )
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/AIModel")
    assert set(components["AIModelCreateRequest"]["required"]) == {"provider", "name"}
    assert "revision" not in components["AIModelCreateRequest"]["properties"]
    assert components["AIModel"]["properties"]["input_cost_per_1m"]["type"] == "string"


def test_filters_and_headers_are_documented(schema):
    list_params = {p["name"] for p in schema["paths"]["/api/v1/models/"]["get"]["parameters"]}
    assert list_params >= {
        "provider", "mode", "capability", "tag", "min_context", "max_context", "search",
        "include_deprecated", "is_active", "ordering", "limit", "offset",
    }  # fmt: skip
    detail = schema["paths"]["/api/v1/models/{id}/"]
    assert "If-None-Match" in {p["name"] for p in detail["get"]["parameters"]}
    assert "ETag" in detail["get"]["responses"]["200"]["headers"]
    assert "304" in detail["get"]["responses"]
    for method in ("put", "patch", "delete"):
        assert "If-Match" in {p["name"] for p in detail[method]["parameters"]}
        assert "412" in detail[method]["responses"]


def test_schema_endpoint_and_docs_render(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
