FROM alpine
MAINTAINER  "Name With Spaces" <x@example.com>  
STOPSIGNAL SIGRTMIN+3
USER 1000:1000
USER app user
WORKDIR /path with spaces/
WORKDIR relative
VOLUME /var/lib/data
VOLUME ["/json/volume", "/second"]
VOLUME /a	/b
EXPOSE 80/tcp 443/udp 8000-8010
EXPOSE ${PORT:-3000}
