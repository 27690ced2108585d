FROM alpine:3.19 AS build
RUN apk add --no-cache build-base
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o /hello hello.c

FROM scratch AS runtime
COPY --from=build /hello /hello
ENTRYPOINT ["/hello"]
