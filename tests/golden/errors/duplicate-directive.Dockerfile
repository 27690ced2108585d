# escape=`
# escape=\\
FROM alpine
