# flagd on a slim Python base, running as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLAGD_DATA_DIR=/var/lib/flagd

WORKDIR /app
COPY pyproject.toml README.md schema.sql ./
COPY flagd ./flagd
COPY flagctl ./flagctl
COPY sdk/python ./sdk/python
RUN pip install ./sdk/python . \
    && groupadd --system --gid 10001 flagd \
    && useradd --system --gid 10001 --uid 10001 --home-dir /var/lib/flagd --create-home flagd

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2).status != 200)"]
ENTRYPOINT ["flagd"]
