"""The read-only TaskRun admin and the periodic tasks in the admin."""

import pytest
from django.urls import reverse

from models_registry.jobs.runner import run_task


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_task_runs_are_listed_and_shown_read_only(staff_client):
    run_task(name="models_registry.tasks.check_alerts", fn=lambda: {"alerts": []})
    from models_registry.jobs.models import TaskRun

    run = TaskRun.objects.get()
    changelist = staff_client.get(reverse("admin:models_registry_taskrun_changelist"))
    assert changelist.status_code == 200
    assert b"models_registry.tasks.check_alerts" in changelist.content
    detail = staff_client.get(reverse("admin:models_registry_taskrun_change", args=[run.pk]))
    assert detail.status_code == 200
    assert b"&quot;alerts&quot;: []" in detail.content
    assert b'name="_save"' not in detail.content  # no save button: read-only
    assert staff_client.get(reverse("admin:models_registry_taskrun_add")).status_code == 403
    assert staff_client.get(reverse("admin:models_registry_taskrun_delete", args=[run.pk])).status_code == 403


def test_the_periodic_tasks_are_editable_in_the_admin(staff_client):
    from models_registry.jobs.beat import periodic_tasks_setup

    periodic_tasks_setup()
    response = staff_client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert response.status_code == 200 and b"model-registry: cache hygiene" in response.content
