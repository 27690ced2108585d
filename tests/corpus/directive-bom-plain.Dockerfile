FROM alpine
RUN echo "file starts with a byte-order mark"
