# A leading comment ends the directive block.
# escape=`
FROM alpine
RUN echo still backslash \
    continued
