FROM alpine
ONBUILD RUN <<EOF
echo runs in the child image
EOF
ONBUILD COPY <<EOF /x
content
EOF
RUN echo after
