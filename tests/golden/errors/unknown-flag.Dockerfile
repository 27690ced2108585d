FROM alpine
COPY --form=builder /a /b
