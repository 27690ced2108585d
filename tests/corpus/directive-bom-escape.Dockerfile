# escape=`
FROM alpine
RUN echo one `
    two
RUN echo a\b
