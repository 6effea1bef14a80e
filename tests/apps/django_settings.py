"""Django settings the web tests share: configured once per process, whichever test module imports it first."""

from __future__ import annotations

import django
from django.conf import settings


def configure() -> None:
    """Configure Django for the tests' sites (the rfs_otel middleware installed) unless already done."""
    if settings.configured:
        return
    settings.configure(
        ROOT_URLCONF="tests.apps.django_site",
        MIDDLEWARE=["rfs_otel.django.MetricsMiddleware"],
        ALLOWED_HOSTS=["testserver"],
        DEBUG=False,
        SECRET_KEY="rfs-otel-tests",
    )
    django.setup()
