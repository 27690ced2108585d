FROM alpine
RUN echo the last line has no newline