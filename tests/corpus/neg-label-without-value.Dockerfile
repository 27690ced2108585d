FROM alpine
LABEL only-a-key
