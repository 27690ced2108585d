FROM alpine
RUN echo two backslashes at the end \\
RUN echo next
RUN echo backslash then continuation \\ \
    done
