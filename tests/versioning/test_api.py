"""The versioning API: versions, diffs, as_of, change feed, stats, rollbacks — and their permissions."""

import pytest
from rest_framework.test import APIClient

from models_registry import services
from tests.factories import grant
from tests.versioning.conftest import client_for, snapshot_state, state_of, versions_of
from versioning.models import RollbackRequest

pytestmark = pytest.mark.django_db


def versions_url(model, *rest) -> str:
    return f"/api/v1/models/{model.pk}/versions/" + "".join(f"{part}/" for part in rest)


def test_version_list_detail_and_diff(gpt, reader):
    client = client_for(reader)
    listing = client.get(versions_url(gpt))
    assert listing.status_code == 200
    body = listing.json()
    assert body["count"] == 4 and [v["number"] for v in body["results"]] == [4, 3, 2, 1]
    raise_ = body["results"][2]
    assert {k: raise_[k] for k in ("label", "impact", "breaking", "source", "reason", "created_by")} == {
        "label": "2.0.0",
        "impact": "high",
        "breaking": True,
        "source": "api",
        "reason": "price up",
        "created_by": "requester",
    }
    assert raise_["changes"] == [
        {
            "field": "input_cost_per_1m",
            "path": ["input_cost_per_1m"],
            "old": "2.5",
            "new": "3",
            "kind": "changed",
            "category": "breaking",
        }
    ]
    assert raise_["rollback_available"] is True and "summary" in raise_
    assert client.get(versions_url(gpt), {"impact": "high"}).json()["count"] == 1
    assert client.get(versions_url(gpt), {"impact": "huge"}).status_code == 400

    detail = client.get(versions_url(gpt, 1)).json()
    assert detail["snapshot"]["input_cost_per_1m"] == "2.5" and detail["snapshot"]["display_name"] == "GPT-4o"
    assert client.get(versions_url(gpt, 9)).status_code == 404
    assert client.get("/api/v1/models/999999/versions/").status_code == 404

    diff = client.get(versions_url(gpt, 1, "diff"), {"against": "current"}).json()
    assert diff["from"] == {"current": True, "revision": 4} and diff["to"] == {"number": 1, "label": "1.0.0"}
    assert {c["field"] for c in diff["changes"]} == {
        "input_cost_per_1m",
        "capabilities.reasoning",
        "display_name",
    }
    assert diff["impact"] == "critical" or diff["breaking"] is True
    assert client.get(versions_url(gpt, 2, "diff"), {"against": "7"}).status_code == 400
    assert client.get(versions_url(gpt, 2, "diff"), {"against": "x"}).status_code == 400
    assert client.get(versions_url(gpt, 4, "diff"), {"against": "1"}).json()["from"]["number"] == 1


def test_sensitive_metadata_is_masked_in_versions(reader):
    from tests.factories import AIModelFactory

    model = AIModelFactory(metadata={"api_key": "sk-secret", "region": "eu"})
    services.ai_model_update(ai_model=model, data={"metadata": {"api_key": "sk-new", "region": "eu"}})
    client = client_for(reader)
    text = (
        client.get(versions_url(model)).content.decode() + client.get(versions_url(model, 1)).content.decode()
    )
    text += client.get(versions_url(model, 2, "diff"), {"against": "1"}).content.decode()
    text += client.get("/api/v1/changes/").content.decode()
    assert "sk-secret" not in text and "sk-new" not in text and "eu" in text
    grant(reader, "view_sensitive_metadata")
    reader = type(reader).objects.get(pk=reader.pk)
    assert "sk-new" in client_for(reader).get(versions_url(model, 2)).content.decode()


def test_as_of_on_the_model_endpoint(gpt, reader):
    v2, v3 = versions_of(gpt)[1:3]
    moment = v2.created_at + (v3.created_at - v2.created_at) / 2
    client = client_for(reader)
    response = client.get(f"/api/v1/models/{gpt.pk}/", {"as_of": moment.isoformat()})
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["revision"], body["input_cost_per_1m"]) == ("2.0.0", 2, "3")
    assert "reasoning" not in body["capabilities"] and response["ETag"] == f'"v1-{gpt.pk}-2"'
    assert client.get(f"/api/v1/models/{gpt.pk}/", {"as_of": "soon"}).status_code == 400
    assert client.get(f"/api/v1/models/{gpt.pk}/", {"as_of": "2000-01-01"}).status_code == 404
    assert client.get(f"/api/v1/models/{gpt.pk}/").json()["version"] == gpt.version


def test_change_feed_and_stats(gpt, reader):
    client = client_for(reader)
    first = client.get("/api/v1/changes/", {"limit": 2}).json()
    assert [(r["model_key"], r["number"]) for r in first["results"]] == [(gpt.key, 1), (gpt.key, 2)]
    assert first["has_more"] is True and "since=" in first["next"]
    rest = client.get("/api/v1/changes/", {"since": first["cursor"]}).json()
    assert [r["number"] for r in rest["results"]] == [3, 4] and rest["has_more"] is False
    services.ai_model_update(ai_model=gpt, data={"context_window": 64_000})
    new = client.get("/api/v1/changes/", {"since": rest["cursor"]}).json()
    assert [(r["number"], r["impact"]) for r in new["results"]] == [(5, "critical")]
    assert client.get("/api/v1/changes/", {"field": "display_name"}).json()["results"][-1]["number"] == 4
    assert client.get("/api/v1/changes/", {"since": "garbage"}).status_code == 400
    assert client.get("/api/v1/changes/", {"kind": "moved"}).status_code == 400
    stats = client.get("/api/v1/versions/stats/").json()
    assert stats["total_versions"] == 5 and stats["most_versioned"][0]["key"] == gpt.key
    assert stats["recent_versions"][0]["number"] == 5
    assert client.get("/api/v1/versions/stats/", {"days": "x"}).status_code == 400


def test_reads_need_authentication(gpt):
    client = APIClient()
    for url in (
        versions_url(gpt),
        versions_url(gpt, 1),
        "/api/v1/changes/",
        "/api/v1/rollbacks/",
        "/api/v1/versions/stats/",
    ):
        assert client.get(url).status_code == 401, url


def test_rollback_through_the_api_with_four_eyes(gpt, requester, approver, outsider, reader):
    body = {"model": gpt.pk, "target_version": 1, "reason": "the price rise was a mistake"}
    assert (
        client_for(reader).post("/api/v1/rollbacks/", body, format="json").status_code == 403
    )  # no add perm
    created = client_for(requester).post("/api/v1/rollbacks/", body, format="json")
    assert created.status_code == 201, created.content
    request = created.json()
    assert request["status"] == "pending" and request["requested_by"] == "requester"
    assert request["preview"]["current_revision"] == 4
    assert {c["field"] for c in request["preview"]["changes"]} == {
        "input_cost_per_1m",
        "capabilities.reasoning",
        "display_name",
    }
    url = f"/api/v1/rollbacks/{request['id']}/"
    second = client_for(approver).post("/api/v1/rollbacks/", {**body, "target_version": 2}, format="json")
    assert second.status_code == 409

    assert client_for(outsider).post(url + "approve/", {}, format="json").status_code == 403  # no permission
    grant(requester, "approve_rollbackrequest")
    requester = type(requester).objects.get(pk=requester.pk)
    self_approval = client_for(requester).post(url + "approve/", {}, format="json")
    assert self_approval.status_code == 403 and "four-eyes" in self_approval.json()["detail"]
    assert client_for(requester).post(url + "reject/", {"comment": "x"}, format="json").status_code == 403
    assert RollbackRequest.objects.get(pk=request["id"]).status == "pending"

    stale = client_for(approver).post(url + "approve/", {"expected_revision": 3}, format="json")
    assert stale.status_code == 412
    approved = client_for(approver).post(
        url + "approve/", {"comment": "agreed", "expected_revision": 4}, format="json"
    )
    assert approved.status_code == 200, approved.content
    done = approved.json()
    assert (done["status"], done["decided_by"], done["result_version"], done["preview"]) == (
        "completed",
        "approver",
        5,
        None,
    )
    assert state_of(gpt) == snapshot_state(versions_of(gpt)[0])
    assert client_for(approver).post(url + "approve/", {}, format="json").status_code == 409  # not pending
    assert client_for(reader).get(url).json()["status"] == "completed"
    listing = client_for(reader).get("/api/v1/rollbacks/", {"status": "completed", "model": gpt.key}).json()
    assert [r["id"] for r in listing["results"]] == [request["id"]]
    assert client_for(reader).get("/api/v1/rollbacks/", {"status": "sideways"}).status_code == 400


def test_rollback_api_errors(gpt, requester, approver, settings):
    client = client_for(requester)
    assert (
        client.post(
            "/api/v1/rollbacks/", {"model": gpt.pk, "target_version": 9, "reason": "x"}, format="json"
        ).status_code
        == 400
    )
    missing_reason = client.post("/api/v1/rollbacks/", {"model": gpt.pk, "target_version": 1}, format="json")
    assert missing_reason.status_code == 400 and "reason" in missing_reason.json()["errors"]
    assert (
        client.post(
            "/api/v1/rollbacks/", {"model": 99999, "target_version": 1, "reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/rollbacks/",
            {"model": "1", "target_version": 1, "reason": "x", "extra": 1},
            format="json",
        ).status_code
        == 400
    )
    created = client.post(
        "/api/v1/rollbacks/", {"model": gpt.pk, "target_version": 2, "reason": "x"}, format="json"
    ).json()
    url = f"/api/v1/rollbacks/{created['id']}/"
    assert (
        client_for(approver).post(url + "reject/", {}, format="json").status_code == 400
    )  # comment required
    assert (
        client_for(approver).post(url + "cancel/", {}, format="json").status_code == 403
    )  # not the requester
    cancelled = client.post(url + "cancel/", {"comment": "oops"}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client_for(approver).get("/api/v1/rollbacks/999999/").status_code == 404
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "ENABLE_ROLLBACK": False}
    refused = client.post(
        "/api/v1/rollbacks/", {"model": gpt.pk, "target_version": 1, "reason": "x"}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "rollback_disabled"


def test_rollback_without_approval_executes_at_once(gpt, requester, settings):
    settings.MODEL_REGISTRY = {**settings.MODEL_REGISTRY, "ROLLBACK_REQUIRES_APPROVAL": False}
    response = client_for(requester).post(
        "/api/v1/rollbacks/", {"model": gpt.pk, "target_version": 3, "reason": "now"}, format="json"
    )
    assert response.status_code == 201 and response.json()["status"] == "completed"
    assert response.json()["result_version"] == 5


def test_schema_documents_the_versioning_endpoints(tmp_path):
    import yaml
    from django.core.management import call_command

    path = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    paths = yaml.safe_load(path.read_text())["paths"]
    for route in (
        "/api/v1/models/{id}/versions/",
        "/api/v1/models/{id}/versions/{number}/",
        "/api/v1/models/{id}/versions/{number}/diff/",
        "/api/v1/changes/",
        "/api/v1/rollbacks/",
        "/api/v1/rollbacks/{id}/approve/",
        "/api/v1/rollbacks/{id}/reject/",
        "/api/v1/rollbacks/{id}/cancel/",
        "/api/v1/versions/stats/",
    ):
        assert route in paths, route
    assert "as_of" in {p["name"] for p in paths["/api/v1/models/{id}/"]["get"]["parameters"]}


def test_token_users_are_named_in_the_rollback_audit_rows(gpt, requester, approver):
    from rest_framework.authtoken.models import Token

    def token_client(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    body = {"model": gpt.pk, "target_version": 2, "reason": "token flow"}
    created = token_client(requester).post("/api/v1/rollbacks/", body, format="json").json()
    token_client(approver).post(f"/api/v1/rollbacks/{created['id']}/approve/", {}, format="json")
    request = RollbackRequest.objects.get(pk=created["id"])
    users = list(request.history.order_by("history_id").values_list("status", "history_user__username"))
    assert users == [("pending", "requester"), ("approved", "approver"), ("completed", "approver")]
    result = request.result_version
    assert result.history.get().history_user == approver and gpt.history.first().history_user == approver
