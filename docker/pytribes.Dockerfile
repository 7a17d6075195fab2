# The pytribes app node image: `pytribes node ... --http HOST:PORT --db URL`.
# Build context: the repository root (docker-compose.yml sets it), e.g.
#   docker build -f docker/pytribes.Dockerfile -t pytribes .
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/pytribes
COPY pyproject.toml README.md ./
COPY tribes ./tribes
COPY app ./app
RUN pip install . && useradd --system --home-dir /var/lib/pytribes --create-home pytribes

USER pytribes
WORKDIR /var/lib/pytribes
# 4000: the Tribes receiver (StaticMembershipService peers), 8080: the app (nginx upstream)
EXPOSE 4000 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/jw/health', timeout=2)"]
ENTRYPOINT ["pytribes"]
CMD ["node", "--help"]
