FROM alpine
RUN echo crlf \
    continued
ENV A=1 \
    B=2
# comment
CMD ["echo", "done"]
