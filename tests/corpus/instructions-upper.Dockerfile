FROM alpine:3.19 AS base
MAINTAINER Jane Doe <jane@example.com>
LABEL org.opencontainers.image.title="demo" version=1.0
ARG VERSION=1.2.3
ENV APP_HOME=/app PATH=/app/bin:$PATH
WORKDIR $APP_HOME
USER root
RUN apk add --no-cache curl && echo "installed"
ADD https://example.com/archive.tar.gz /tmp/
COPY . /app
VOLUME /data /cache
EXPOSE 80 443/tcp 53/udp
HEALTHCHECK --interval=30s --timeout=3s CMD curl -f http://localhost/ || exit 1
ONBUILD RUN echo "triggered"
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-c"]
ENTRYPOINT ["/app/bin/server"]
CMD ["--port", "80"]
