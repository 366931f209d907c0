# CPU image of the tweetembed service. Build: docker build -t tweetembed .
# Run:   docker run -p 8000:8000 -v $PWD/demo/checkpoint:/checkpoint:ro tweetembed
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# CPU wheels of torch/torchvision first: PyPI's default build carries ~4 GB of CUDA libraries.
# "2.14.1+cpu" satisfies constraints.txt's torch==2.14.1 (local version labels are ignored).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1
COPY constraints.txt pyproject.toml README.md ./
COPY app ./app
COPY model ./model
COPY training ./training
# The serving set only (pyproject's core dependencies; training-only packages are the `train` extra).
RUN pip install -c constraints.txt '.[serve]' && pip check

FROM python:3.11-slim
# libgomp: OpenMP runtime used by faiss-cpu and scikit-learn.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin tweetembed
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TWEETEMBED_CHECKPOINT=/checkpoint \
    TWEETEMBED_DEVICE=cpu
USER tweetembed
WORKDIR /home/tweetembed
EXPOSE 8000
# Liveness only: /ready (503 while loading) is for orchestrators that route traffic.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
# Exec form: the server is PID 1 and gets SIGTERM itself (graceful shutdown drains in-flight batches).
STOPSIGNAL SIGTERM
CMD ["tweetembed", "serve", "--host", "0.0.0.0", "--port", "8000"]
