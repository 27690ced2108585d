FROM alpine
RUN ["echo", "exec form"]
RUN echo shell form
RUN [ "echo", "spaces inside the array" ]
RUN    ["echo","leading spaces"]
CMD ["sh", "-c", "echo $HOME"]
CMD sh -c 'echo $HOME'
ENTRYPOINT []
SHELL ["/bin/bash", "-c"]
VOLUME ["/a", "/b"]
VOLUME /c /d
COPY ["src dir/", "/dst dir/"]
ADD ["a", "b", "/c/"]
RUN ["echo",
