FROM alpine
RUN echo the file ends inside a continuation \
