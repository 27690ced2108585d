FROM alpine
RUN ["sh", "-c", "cat <<EOF"]
CMD cat <<EOF
ENV X=<<EOF
LABEL a=<<EOF
RUN echo '<<EOF'
RUN echo "<<EOF"
RUN echo \<<EOF
RUN echo a<<EOF
EOF
RUN echo <<<EOF
RUN echo <<
WORKDIR <<EOF
