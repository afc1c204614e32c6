# Model Registry image: the project (config/, manage.py) on top of the app installed from its own
# wheel with the [prod] extra (gunicorn, WhiteNoise). Not built in this repository's CI (no
# container runtime there); tests/packaging builds and installs the same wheel. docs/deployment.md.
#
#   docker build -t model-registry .
#   docker run --env-file /etc/model-registry/env -p 127.0.0.1:8000:8000 model-registry

FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md NOTICE ./
COPY models_registry ./models_registry
COPY caching ./caching
COPY versioning ./versioning
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PORT=8000

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

COPY --from=wheel /wheels /wheels
RUN pip install "$(ls /wheels/django_model_registry-*.whl)[prod]" && rm -rf /wheels

WORKDIR /app
COPY manage.py ./
COPY config ./config
# Static files at build time (hashed, compressed; served by WhiteNoise). The settings need a secret
# key and hosts to load; these build-only values never reach a running container.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput \
 && python -m compileall -q config

USER app
EXPOSE 8000
# No HEALTHCHECK here: the worker and beat containers run this image too. compose.yaml checks the
# web service's /health/.
CMD ["gunicorn", "-c", "config/gunicorn.conf.py"]
