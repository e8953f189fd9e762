# airun as a container: `airun serve` over HTTP on port 8765, as a non-root user, with the
# workspace and airun's state (journal, audit log, users) on two volumes.
#
#   docker build -t airun .
#   docker run -v ./workspace:/workspace -v airun-state:/state \
#       -e AIRUN_TOKEN=... -p 8765:8765 airun
#
# The build stage compiles a release binary; the runtime image is distroless (glibc, CA
# certificates, a `nonroot` user 65532, no shell). Programs run by sys.exec.run need
# bubblewrap, which this image leaves out: sys.exec.run is refused in it.

ARG RUST_IMAGE=docker.io/library/rust:1-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin airun \
    && mkdir -p /out/workspace /out/state \
    && cp target/release/airun /out/airun

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=build /out/airun /usr/local/bin/airun
COPY --from=build --chown=65532:65532 /out/workspace /workspace
COPY --from=build --chown=65532:65532 /out/state /state
USER 65532:65532
ENV AIRUN_HOME=/state \
    AIRUN_WORKSPACE=/workspace
VOLUME ["/workspace", "/state"]
EXPOSE 8765
ENTRYPOINT ["/usr/local/bin/airun"]
# Off loopback the server requires a token: pass AIRUN_TOKEN.
CMD ["serve", "--port", "8765", "--host", "0.0.0.0"]
