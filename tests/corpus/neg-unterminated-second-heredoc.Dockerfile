FROM alpine
RUN <<A <<B
first
A
second
