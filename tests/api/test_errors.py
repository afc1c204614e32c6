"""Requests under /api/ that match no route answer JSON 404 (not Django's HTML page); other paths
keep Django's pages."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/not-a-number/",
        "/api/v1/models/by-key/openai/gpt%0A4",  # a newline: no route matches
        "/api/v1/rollbacks/%C2%B2/",
        "/api/v1/nothing-here/",
    ],
)
def test_unknown_api_urls_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_other_paths_keep_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
