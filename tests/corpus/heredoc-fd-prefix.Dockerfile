FROM alpine
RUN 3<<EOF cat /proc/self/fd/3
through fd 3
EOF
RUN cat 0<<EOF
stdin
EOF
RUN 2<<-EOF echo
	fd two, chomped
	EOF
RUN 10<<EOF true
ten
EOF
