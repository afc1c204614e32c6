"""``manage.py ensure_superuser``: one superuser with a random password, printed once."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("ensure_superuser", *args, stdout=out)
    return out.getvalue()


def test_creates_one_superuser_with_a_usable_random_password():
    output = run()
    match = re.search(r"Created superuser 'admin' with password: (\S+)", output)
    assert match, output
    password = match.group(1)
    assert len(password) >= 20
    assert "changepassword admin" in output
    user = get_user_model().objects.get(is_superuser=True)
    assert (user.username, user.is_staff, user.is_active) == ("admin", True, True)
    assert authenticate(username="admin", password=password) == user


def test_second_run_changes_nothing():
    run()
    user = get_user_model().objects.get(is_superuser=True)
    output = run()
    assert "already exists (admin)" in output
    assert "password:" not in output
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert get_user_model().objects.get(pk=user.pk).password == user.password


def test_passwords_differ_between_databases():
    first = re.search(r"password: (\S+)", run()).group(1)
    get_user_model().objects.all().delete()
    second = re.search(r"password: (\S+)", run("--username", "root")).group(1)
    assert first != second
    assert get_user_model().objects.get(is_superuser=True).username == "root"


def test_existing_superuser_with_another_name_is_enough():
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    assert "already exists (boss)" in run()
    assert not get_user_model().objects.filter(username="admin").exists()


def test_refuses_to_take_over_an_ordinary_user():
    UserFactory(username="admin")
    with pytest.raises(CommandError, match="not an active superuser"):
        run()
    assert not get_user_model().objects.filter(is_superuser=True).exists()
