FROM alpine
RUN <<EOF
FROM scratch
# escape=`
RUN echo \
COPY <<INNER
EOF
RUN echo after
