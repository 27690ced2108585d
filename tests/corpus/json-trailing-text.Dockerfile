FROM alpine
CMD ["echo", "a"] # a trailing comment makes this shell form in current BuildKit
ENTRYPOINT ["sh"] extra
RUN ["echo"] && echo more
COPY ["a", "b"] /c/
VOLUME ["/data"] ["/more"]
CMD ["fine"]
