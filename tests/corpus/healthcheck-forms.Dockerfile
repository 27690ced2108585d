FROM alpine
HEALTHCHECK NONE
HEALTHCHECK CMD curl -f http://localhost/ || exit 1
HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]
HEALTHCHECK --interval=1m --timeout=10s --retries=5 \
  CMD wget -qO- http://localhost:8080/health
healthcheck cmd ["true"]
HEALTHCHECK CMD
HEALTHCHECK
HEALTHCHECK CMD	["tab", "separated"]
HEALTHCHECK CMD["no", "space"]
