# kernelfarm images (Debian 12, the platform the code targets):
#   docker build --target server -t kernelfarm/server .
#   docker build --target worker -t kernelfarm/worker .
# The worker needs the NVIDIA container toolkit on the host (docker run --gpus).
# deploy/docker-compose.yml wires both to Redis.

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
 && rm -rf /var/lib/apt/lists/*
ENV CUDA_HOME=/usr/local/cuda
WORKDIR /src
COPY . .
RUN make clean && make -j"$(nproc)" all

# ---- server: HTTP front end, no CUDA ------------------------------------------
FROM debian:12-slim AS server
RUN apt-get update && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libhiredis0.14 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/kernelfarm --create-home kernelfarm
COPY --from=build /src/bin/kf-server /src/bin/kf /opt/kernelfarm/bin/
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
 && useradd --system --home /var/lib/kernelfarm --create-home kernelfarm
COPY --from=build /src/bin/kf-worker /src/bin/kf /opt/kernelfarm/bin/
COPY --from=build /src/kernels /opt/kernelfarm/kernels
COPY --from=build /src/deploy/eval-contest.json /opt/kernelfarm/deploy/
USER kernelfarm
WORKDIR /var/lib/kernelfarm
ENV KF_KERNELS_DIR=/opt/kernelfarm/kernels FIB_DATASET_PATH=/data/dataset \
    KF_EVAL_CONFIG=/opt/kernelfarm/deploy/eval-contest.json \
    LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/extras/CUPTI/lib64 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/kernelfarm/bin/kf-worker"]
