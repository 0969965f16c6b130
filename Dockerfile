# The code-location image of the split deployment (docker-compose.yaml, Helm `dagster-user-deployments`):
# the package with its PostgreSQL extra, served by `dagster code-server start`. Runs launched from this code
# location execute in this container too (DefaultRunLauncher), so it needs CONFIG_FILE_PATH, the secret
# environment variables of the README and DAGSTER_PG_URL; nothing is baked into the image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_DISABLE_TELEMETRY=1

WORKDIR /opt/dagster/app
COPY pyproject.toml ./
COPY usermgmt_pipeline ./usermgmt_pipeline
RUN pip install '.[postgres]' \
    && useradd --system --uid 10001 --home-dir /opt/dagster dagster \
    && mkdir -p /opt/dagster/home/storage /var/lib/usermgmt/reports \
    && chown -R dagster /opt/dagster/home /var/lib/usermgmt/reports \
    && chmod 0700 /var/lib/usermgmt/reports

USER dagster
EXPOSE 4000
# 0.0.0.0 inside the container: the webserver and daemon reach it over the compose network; the port is
# never published on the host.
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", "--module-name", "usermgmt_pipeline.definitions", "--location-name", "usermgmt_pipeline"]
