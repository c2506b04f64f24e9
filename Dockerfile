# The megawatch image: worker, notifier, agents and the CLI (docker-compose.yml uses it).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MEGAWATCH_DATA_DIR=/var/lib/megawatch

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY sql ./sql
COPY examples ./examples
# pipeline/_sql is a symlink to ../sql: copying both keeps it resolvable in the image.
RUN pip install . \
 && useradd --system --create-home --home-dir /var/lib/megawatch megawatch

USER megawatch
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/health', timeout=2)"
ENTRYPOINT ["megawatch"]
CMD ["worker"]
