FROM python:3.12-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY daemon ./daemon
COPY sql ./sql
COPY monitor ./monitor
COPY loadgen ./loadgen
# daemon/sql is a link to ../sql in the repository; in the image the files themselves go there.
RUN rm -f daemon/sql && cp -r sql daemon/sql \
    && pip install --no-cache-dir . \
    && useradd --system --no-create-home ingest

USER ingest
ENV INGEST_HOST=0.0.0.0 PORT=3000
EXPOSE 3000
CMD ["ingestd"]
