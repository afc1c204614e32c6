"""``manage.py ensure_superuser`` — make sure someone can log in to the admin (used by ``make run``).

When no active superuser exists, creates one (``--username``, default ``admin``) with a random
password from ``secrets``, printed once on stdout with how to change it. When one exists, says
so and changes nothing. There is no fixed or configurable password.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

PASSWORD_BYTES = 18  # 24 URL-safe characters


class Command(BaseCommand):
    help = "Create a superuser with a random password (printed once) unless an active one exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help='Username to create (default "admin").')
        parser.add_argument("--email", default="", help="Email of the user to create (optional).")

    def handle(self, *args, username: str, email: str, **options):
        user_model = get_user_model()
        users = user_model._default_manager
        existing = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if existing is not None:
            name = existing.get_username()
            self.stdout.write(
                f"A superuser already exists ({name}); nothing to do. "
                f"Forgot the password? python manage.py changepassword {name}"
            )
            return
        if users.filter(**{user_model.USERNAME_FIELD: username}).exists():
            raise CommandError(
                f"A user {username!r} exists but is not an active superuser; "
                "choose another --username, or promote that user yourself."
            )
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        fields = {user_model.USERNAME_FIELD: username, "password": password}
        email_field = user_model.get_email_field_name()
        if any(f.name == email_field for f in user_model._meta.get_fields()):
            fields[email_field] = email
        users.create_superuser(**fields)
        self.stdout.write(self.style.SUCCESS(f"Created superuser {username!r} with password: {password}"))
        self.stdout.write(
            "This password is shown only once. Change it at /admin/password_change/ "
            f"or with: python manage.py changepassword {username}"
        )
