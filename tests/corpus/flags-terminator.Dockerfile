FROM alpine
RUN -- --not-a-flag
RUN --a -- --b echo b is an argument
COPY -- -src /dst
RUN --
RUN -x echo single dash is not a flag
RUN ---triple echo three dashes
RUN --mount=type=cache,target=/c --
