FROM alpine
ONBUILD RUN <<EOF
echo x
