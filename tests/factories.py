"""factory-boy factories. Model rows are built through the services (the one write path)."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from models_registry import services
from models_registry.models import AIModel, Provider


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pass-word-123")


def grant(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    # drop Django's per-instance permission cache
    for attr in ("_perm_cache", "_user_perm_cache"):
        if hasattr(user, attr):
            delattr(user, attr)
    return user


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"provider{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class AIModelFactory(factory.Factory):
    """Creates models through ``services.ai_model_create``."""

    class Meta:
        model = AIModel

    provider = factory.SubFactory(ProviderFactory)
    name = factory.Sequence(lambda n: f"model-{n}")
    mode = "chat"
    context_window = 128_000
    max_output_tokens = 4_096
    input_cost_per_1m = Decimal("2.5")
    output_cost_per_1m = Decimal("10")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.ai_model_create(source=kwargs.pop("source", "manual"), **kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        return model_class(*args, **kwargs)
