FROM alpine
RUN --mount="type=cache,target=/var/cache/apt" echo double-quoted flag
RUN --mount='type=tmpfs,target=/tmp' echo single-quoted flag
COPY --chown="user name:group" a /b
RUN --a="x y" --b='' --c= --d echo flags
RUN --e="unterminated echo this ends up in the flag
RUN --f=a\ b echo escaped space
RUN --g="a\"b" echo escaped quote
