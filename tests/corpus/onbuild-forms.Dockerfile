FROM alpine
ONBUILD ADD . /app/src
ONBUILD RUN ["make", "-C", "/app/src"]
ONBUILD COPY --from=builder /a /b
onbuild env A=1 B=2
ONBUILD
ONBUILD ONBUILD RUN echo nested
ONBUILD HEALTHCHECK CMD true
ONBUILD FOO unknown trigger
ONBUILD --flag RUN echo outer flag
