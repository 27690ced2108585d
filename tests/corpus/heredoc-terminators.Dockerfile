FROM alpine
RUN <<EOF
EOF 
not the end: trailing space above
 EOF
not the end: leading space above
EOF
RUN <<EOF
last heredoc ends at end of file
EOF