# pvm service image: the API, the questionnaire and the dashboard behind uvicorn.
# Database: PVM_DATABASE_URL (default SQLite under /app/var; mount a volume there, or point it at
# PostgreSQL, e.g. postgresql+psycopg://user:pass@db:5432/pvm). The service migrates on start.
# Installed editable so instruments/, migrations/ and alembic.ini stay beside the code.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY instruments ./instruments
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install -e . && useradd --create-home pvm && mkdir -p /app/var && chown pvm /app/var

USER pvm
VOLUME ["/app/var"]
EXPOSE 8000
CMD ["pvm", "serve", "--host", "0.0.0.0", "--port", "8000"]
