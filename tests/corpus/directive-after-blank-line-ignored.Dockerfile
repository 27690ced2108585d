
# escape=`
FROM alpine
RUN echo the escape directive above is a comment \
    so backslash continues
