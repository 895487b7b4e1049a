# pvm service image: the API, the questionnaire and the dashboard behind uvicorn.
# Database: PVM_DATABASE_URL (default SQLite under /app/var; mount a volume there, or point it at
# PostgreSQL, e.g. postgresql+psycopg://user:pass@db:5432/pvm). The service migrates on start.
# Installed editable so instruments/, migrations/ and alembic.ini stay beside the code.
#
# Production settings are the default here: PVM_ENVIRONMENT=production refuses to start without
# a strong PVM_SECRET_KEY (32+ characters), so give one at run time, never in the image:
#   docker run -p 8000:8000 -v pvm-var:/app/var -e PVM_SECRET_KEY=... pvm
# Behind a reverse proxy also set PVM_PROXY_HEADERS=true and PVM_FORWARDED_ALLOW_IPS=<proxy>
# (app/security/README.md), or every client shares the proxy's rate-limit budget.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PVM_ENVIRONMENT=production \
    PVM_HOST=0.0.0.0 \
    PVM_PORT=8000 \
    PVM_DATABASE_URL=sqlite:////app/var/pvm.db \
    PVM_LOG_LEVEL=INFO \
    PVM_PROXY_HEADERS=false \
    PVM_HEADER_TIMEOUT_S=10 \
    PVM_BODY_TIMEOUT_S=30 \
    PVM_RATE_LIMIT_ENABLED=true

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY instruments ./instruments
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install -e . \
    && useradd --create-home --uid 10001 pvm \
    && mkdir -p /app/var && chown pvm /app/var && chmod 700 /app/var

USER pvm
VOLUME ["/app/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/openapi.json', timeout=4)"
# Host and port come from PVM_HOST/PVM_PORT; --workers N for more processes.
CMD ["pvm", "serve"]
