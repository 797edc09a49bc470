# kernelfarm images (Debian 12, the platform the code targets):
#   docker build --target server -t kernelfarm/server .
#   docker build --target worker -t kernelfarm/worker .
#   docker build --target worker-python -t kernelfarm/worker-python .   (+ torch, triton)
# The worker needs the NVIDIA container toolkit on the host (docker run --gpus).
# deploy/docker-compose.yml wires both to Redis; deploy/k8s/ for Kubernetes;
# docs/deploy.md from one box to many hosts.

# ---- build: everything, with the CUDA toolkit from NVIDIA's Debian 12 repo --
FROM debian:12 AS build
ARG CUDA_VER=13-0
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSLo /tmp/keyring.deb \
      https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb \
 && dpkg -i /tmp/keyring.deb && apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
      libmicrohttpd-dev libjansson-dev libhiredis-dev check \
      cuda-nvcc-${CUDA_VER} cuda-nvrtc-dev-${CUDA_VER} cuda-cupti-dev-${CUDA_VER} \
      cuda-cudart-dev-${CUDA_VER} cuda-driver-dev-${CUDA_VER} \
      cuda-cccl-${CUDA_VER} cuda-crt-${CUDA_VER} \
 && rm -rf /var/lib/apt/lists/*
ENV CUDA_HOME=/usr/local/cuda
WORKDIR /src
COPY . .
RUN make clean && make -j"$(nproc)" all
# The CUDA headers NVRTC needs at run time (device code includes cuda_bf16.h,
# cuda_fp8.h, mma.h, CCCL, ...): only these go into the worker image. The same
# list is checked without Docker by tests/unit/test_image_headers.c.
RUN tools/stage-cuda-headers.sh deploy/worker-cuda-headers.txt "$CUDA_HOME" /opt/cuda-headers

# ---- server: HTTP front end, no CUDA ------------------------------------------
FROM debian:12-slim AS server
RUN apt-get update && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libhiredis0.14 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/kernelfarm --create-home kernelfarm
COPY --from=build /src/bin/kf-server /src/bin/kf /opt/kernelfarm/bin/
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:${KF_PORT:-8080}/health || exit 1
USER kernelfarm
WORKDIR /var/lib/kernelfarm
ENV KF_HOST=0.0.0.0 KF_PORT=8080 FIB_DATASET_PATH=/data/dataset
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/kernelfarm/bin/kf-server"]

# ---- worker: GPU supervisor + evaluators (NVRTC, CUPTI from the toolkit) ------
FROM debian:12-slim AS worker
ARG CUDA_VER=13-0
COPY --from=build /etc/apt/sources.list.d/cuda-debian12-x86_64.list /etc/apt/sources.list.d/
COPY --from=build /usr/share/keyrings/cuda-archive-keyring.gpg /usr/share/keyrings/
RUN apt-get update && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libhiredis0.14 ca-certificates \
      cuda-nvrtc-${CUDA_VER} cuda-cupti-${CUDA_VER} cuda-cudart-${CUDA_VER} \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/kernelfarm --create-home kernelfarm \
 && { [ -e /usr/local/cuda ] || ln -s "$(ls -d /usr/local/cuda-* | head -n1)" /usr/local/cuda; } \
 && mkdir -p /var/cache/kernelfarm && chown kernelfarm:kernelfarm /var/cache/kernelfarm \
 && chmod 0750 /var/cache/kernelfarm
# NVRTC's include path is $CUDA_HOME/include (+ include/cccl): the staged headers.
COPY --from=build /opt/cuda-headers/include /opt/kernelfarm/cuda/include
# kf-runner (the untrusted runner the judge starts, found next to kf-worker)
# and the Python lane's libkfrunner.so + kf_pyrunner.py (<bin>/../worker/python)
COPY --from=build /src/bin/kf-worker /src/bin/kf /src/bin/kf-runner /src/bin/libkfrunner.so \
     /opt/kernelfarm/bin/
COPY --from=build /src/worker/python /opt/kernelfarm/worker/python
COPY --from=build /src/kernels /opt/kernelfarm/kernels
COPY --from=build /src/deploy/eval-contest.json /opt/kernelfarm/deploy/
COPY --from=build /src/deploy/worker-per-gpu.sh /opt/kernelfarm/bin/
USER kernelfarm
WORKDIR /var/lib/kernelfarm
# The compile and reference caches: owned by the worker user, so a named
# volume mounted here (compose) starts out writable; k8s uses fsGroup.
VOLUME /var/cache/kernelfarm
ENV KF_KERNELS_DIR=/opt/kernelfarm/kernels FIB_DATASET_PATH=/data/dataset \
    KF_CACHE_DIR=/var/cache/kernelfarm CUDA_HOME=/opt/kernelfarm/cuda \
    KF_EVAL_CONFIG=/opt/kernelfarm/deploy/eval-contest.json \
    LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/extras/CUPTI/lib64 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
STOPSIGNAL SIGTERM
# One kf-worker per GPU the container sees (worker-per-gpu.sh), or one for
# KF_DEVICE when set (k8s: one GPU per pod).
ENTRYPOINT ["/opt/kernelfarm/bin/worker-per-gpu.sh"]

# ---- worker-python: the worker plus torch and triton from PyPI -----------------
# Serves the python lane too (Triton and PyTorch solutions, and the contest's
# PyTorch reference): kf-worker finds torch and triton through KF_PYTHON at
# start, logs it and lists the lane in its heartbeat (GET /health);
# docs/deploy.md. CUDA with the torch binding also needs nvcc matching torch's
# CUDA, which this image does not carry (such solutions get COMPILE_ERROR here). Pin versions with the build args (pip requirement specs), e.g.
#   docker build --target worker-python --build-arg TORCH_SPEC=torch==2.8.0 \
#                --build-arg TRITON_SPEC=triton==3.4.0 -t kernelfarm/worker-python .
# gcc and the Python headers: Triton compiles its launcher at first use.
FROM worker AS worker-python
ARG TORCH_SPEC=torch
ARG TRITON_SPEC=triton
USER root
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/kernelfarm/venv \
 && /opt/kernelfarm/venv/bin/pip install --no-cache-dir "${TORCH_SPEC}" "${TRITON_SPEC}" \
 && /opt/kernelfarm/venv/bin/python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
USER kernelfarm
ENV KF_PYTHON=/opt/kernelfarm/venv/bin/python
