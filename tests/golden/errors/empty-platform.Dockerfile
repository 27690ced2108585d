ARG P
FROM --platform=$P alpine
