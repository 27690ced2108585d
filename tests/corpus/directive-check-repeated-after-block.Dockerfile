# check=skip=all
FROM alpine
# check=error=true
RUN echo "a directive after an instruction is a comment"
