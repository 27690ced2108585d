FROM alpine
ENV LEGACY value with spaces
ENV LEGACY2   spaced   out   
ENV A=1 B=2 C=3
ENV QUOTED="a b c" SINGLE='d e f' MIXED="g"'h'
ENV ESCAPED=a\ b ESCQ=\"x\"
ENV EMPTY= EMPTY2="" EMPTY3=''
ENV MULTI=one \
    TWO=two \
    THREE=three
ENV PATH=/usr/local/bin:$PATH HOME=${HOME:-/root}
ENV KEY==starts-with-equals
ENV UNICODE=é NBSP="a b"
ENV "QUOTEDKEY"=v
ENV LEGACY_JSON ["not", "json"]
