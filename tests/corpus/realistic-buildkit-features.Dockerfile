# syntax=docker/dockerfile:1.7-labs
# check=skip=InvalidDefaultArgInFrom

ARG ALPINE_VERSION
FROM alpine:${ALPINE_VERSION:-3.19} AS base
RUN --mount=type=secret,id=aws,target=/root/.aws/credentials,required=true \
    --mount=type=ssh \
    --network=host \
    --security=insecure \
    echo using secrets

FROM base AS files
COPY --parents --exclude=*.md ./docs/**/ /out/
COPY <<-EOT /etc/hosts.extra
	127.0.0.1 example.test
	EOT
ADD --link git@github.com:moby/buildkit.git /src

FROM scratch AS export
COPY --from=files /out /
