# leading comment
FROM alpine
    # indented comment
	# tab-indented comment

# comment after a blank line
RUN echo one \
# a comment inside a continuation is dropped
    two \
    # an indented one too
    three
RUN echo "# not a comment inside quotes" # nor at the end of a line
RUN echo trailing # hash is an argument
#RUN echo commented out
##double hash
#
ENV A=1#not-a-comment B="# neither"
