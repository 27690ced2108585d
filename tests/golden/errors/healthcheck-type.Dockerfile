FROM alpine
HEALTHCHECK --interval=5s PING localhost
