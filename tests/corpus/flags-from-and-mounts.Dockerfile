FROM golang:1.22 AS build
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=bind,source=.,target=/src \
    --mount=type=secret,id=netrc,target=/root/.netrc \
    --network=none \
    go build -o /out/app ./cmd/app
FROM scratch
COPY --from=build --chown=65532:65532 --chmod=0555 /out/app /app
COPY --link --from=build /etc/ssl/certs /etc/ssl/certs
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/f /f
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.12.5 /buildkit
