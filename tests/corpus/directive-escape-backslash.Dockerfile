# escape=\
FROM alpine
RUN echo one \
    two \
    three
RUN echo "a\\b"
ENV A=x\ y
