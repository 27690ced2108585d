FROM scratch
FOO bar baz
RUNX echo this is not run
COPY2 a b
INCLUDE other.Dockerfile
X
123 numbers as keyword
-dash
=equals
DOCKERFILE ["json", "is", "ignored"]
RUN echo known again
