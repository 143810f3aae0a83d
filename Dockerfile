# agent-ecology: docker run --memory=4g --cpus=2 agent-ecology
#
#   docker build -t agent-ecology .
#   docker run --rm --memory=4g --cpus=2 -v "$PWD/world:/app/data" agent-ecology
#   docker run ... -e OPENAI_API_KEY=sk-... agent-ecology                 # think with a model
#   docker run ... -v "$PWD/my-config.yaml:/app/config.yaml:ro" agent-ecology   # your config
#   docker run ... agent-ecology run --duration 600 | calibrate | inspect | robonomics --ticks 20
#
# The database lives in /app/data (a volume: mount the folder, not the file, since SQLite's
# WAL mode keeps side files beside it). Secrets come only from the environment. `docker stop`
# sends SIGTERM: the run stops cleanly, every committed change kept, and the next run resumes.
# The sandbox for agents' programs is built into the image (/opt/agent-ecology/sandbox), so a
# run starts without building it.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Exactly the locked versions, with their hashes, and no resolver (requirements/, written by
# `make lock`). torch first: the CPU build, from PyTorch's CPU index (a plain `torch` from
# PyPI is the multi-GB CUDA build, which the lock's pin and hash can never match).
COPY requirements/torch.txt requirements/run.txt ./requirements/
RUN pip install --no-deps --require-hashes -r requirements/torch.txt \
        --extra-index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-deps --require-hashes -r requirements/run.txt \
    && pip check
COPY pyproject.toml README.md alembic.ini ./
COPY agent_ecology ./agent_ecology
COPY migrations ./migrations
RUN pip install --no-deps --no-build-isolation .
# The sandbox for agents' programs (CPython compiled to WebAssembly, then to native code by
# wasmtime), built here once so that a container never builds it at run time. Its cache key
# hashes the guest files and the componentize-py and wasmtime versions installed above; the
# final stage copies this venv and this folder, so the key matches and it is only read there.
ENV AGENT_ECOLOGY_SANDBOX_CACHE=/opt/agent-ecology/sandbox
RUN agent-ecology build-sandbox \
    && chmod -R a+rX /opt/agent-ecology

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AGENT_ECOLOGY_CONFIG=/app/config.yaml \
    AGENT_ECOLOGY_CONTAINER=1 \
    AGENT_ECOLOGY_SANDBOX_CACHE=/opt/agent-ecology/sandbox
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ecology \
    && mkdir -p /app/data \
    && chown ecology:ecology /app/data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/agent-ecology /opt/agent-ecology
WORKDIR /app
COPY config.yaml ./config.yaml
COPY genesis ./genesis
USER 10001:10001
VOLUME ["/app/data"]
# The live dashboard, when asked for: run --dashboard 8000 --dashboard-host 0.0.0.0, with -p.
EXPOSE 8000
ENTRYPOINT ["agent-ecology"]
CMD ["run"]
