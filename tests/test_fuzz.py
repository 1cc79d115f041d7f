"""Schemathesis against the app's own OpenAPI document: no generated request gets a 5xx."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from recsys.server import Settings, create_app

TOKEN = "fuzz-token"


@pytest.fixture()
def api_schema(sample_index, tmp_path):
    index_dir = sample_index.save(tmp_path / "news")
    app = create_app(Settings(index=index_dir, events_db=tmp_path / "events.sqlite3", api_token=TOKEN))
    with TestClient(app):  # runs the lifespan: the index is loaded for the generated calls
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if "application/json" in str(response.headers.get("content-type")):
        assert "ok" in response.json()
