# The daemon, its monitor and its load generator, as the tests run them (Python 3.11).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY daemon ./daemon
COPY sql ./sql
COPY monitor ./monitor
COPY loadgen ./loadgen
COPY bench ./bench
# daemon/sql is a link to ../sql in the repository; in the image the files themselves go there.
# The embedded PostgreSQL (used when no DATABASE_URL is given) keeps its files in the volume.
RUN rm -f daemon/sql && cp -r sql daemon/sql \
    && pip install --no-cache-dir . \
    && useradd --system --no-create-home ingest \
    && mkdir -p /var/lib/ingestd && chown ingest /var/lib/ingestd

USER ingest
# Listening beyond loopback needs tokens (INGEST_TOKENS or INGEST_TOKENS_FILE), or
# INGEST_INSECURE=true on purpose: without either the daemon refuses to start, saying so.
ENV INGEST_HOST=0.0.0.0 PORT=3000 INGEST_DATA_DIR=/var/lib/ingestd
VOLUME /var/lib/ingestd
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/readyz\", timeout=2)"]
CMD ["ingestd"]
