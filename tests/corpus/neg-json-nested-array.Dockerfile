FROM alpine
ENTRYPOINT [["sh"], "-c"]
