FROM alpine
RUN <<EOF
echo crlf body
EOF
COPY <<EOF /x
line
  EOF
EOF
