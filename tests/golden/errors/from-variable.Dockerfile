ARG SRC=builder
FROM alpine AS builder
FROM alpine
COPY --from=${SRC} /a /b
