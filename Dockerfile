# noetl-pg: one image for every daemon; the command picks which one runs.
#   docker run -e NOETL_DSN=postgresql://... IMAGE noetl-engine
#   docker run -e NOETL_DSN=postgresql://... IMAGE noetl-worker --concurrency 8
#   docker run -e NOETL_DSN=postgresql://... -p 8000:8000 IMAGE noetl-gateway --host 0.0.0.0
#   docker run -e NOETL_DSN=postgresql://... IMAGE noetl-pg db upgrade
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY sql ./sql
COPY noetl_pg ./noetl_pg
# The symlink noetl_pg/sql -> ../sql is resolved when the wheel is built.
RUN pip install . && useradd --system --create-home noetl

USER noetl
EXPOSE 8000
CMD ["noetl-gateway", "--host", "0.0.0.0", "--port", "8000"]
