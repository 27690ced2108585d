# syntax=docker/dockerfile:1
FROM alpine
RUN <<EOF
apk add --no-cache bash
echo "hello from a heredoc"
EOF
RUN <<EOF bash
set -e
echo "interpreter after the delimiter"
EOF
RUN cat <<EOF > /etc/motd
Welcome $USER
EOF
RUN <<EOF
EOF
RUN echo after
