FROM alpine
COPY <<EOF /etc/app.conf
key = value
EOF
COPY <<one.txt <<two.txt /dst/
first
one.txt
second
two.txt
ADD --chmod=755 <<EOF /usr/local/bin/hello
#!/bin/sh
echo hello
EOF
COPY --link <<"EOF" /literal.txt
$NOT_EXPANDED
EOF
