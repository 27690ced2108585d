FROM alpine
ARG NAME=file
RUN <<$NAME
dollar delimiter
$NAME
RUN <<${NAME}
braced delimiter
${NAME}
RUN cat <<EOF > ${NAME}.txt
body with ${NAME}
EOF
