# syntax=docker/dockerfile:1.7-labs
# This comment ends the directive block.
FROM busybox
RUN echo syntax directive
