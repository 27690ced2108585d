# foo=bar
# escape=`
FROM alpine
RUN echo default escape \
    still
