# Bouvet's devbox as its seed (003) builds it, docker build → docker export → mke2fs -d,
# here with no Docker daemon: plinth builds this with buildah and takes the result as the
# base of examples/bouvet-devbox-dockerfile.yaml. BASE defaults to Docker Hub's slim
# image; where that is out of reach, pass another (`--set base.args.BASE=…`).
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      iproute2 iputils-ping ca-certificates openssh-client curl wget \
      git vim nano less tree htop jq rsync strace gdb zip unzip tar xz-utils \
      python3 python3-pip python3-venv python3-dev \
      nodejs npm \
      rustc cargo rust-clippy rustfmt \
      gcc g++ clang cmake make build-essential pkg-config \
      bash shellcheck \
 && rm -rf /var/lib/apt/lists/*
# The recipe travels with the image.
COPY bouvet-devbox.Dockerfile /etc/bouvet/Dockerfile
WORKDIR /workspace
