FROM alpine
RUN << EOF
current BuildKit reads a heredoc here
EOF
RUN <<	EOF2
tab after the operator
EOF2
RUN cat <<EOF <<  OTHER
first
EOF
second
OTHER
RUN << -DASH
dash is part of the delimiter
-DASH
RUN echo done
