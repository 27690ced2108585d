FROM alpine
LABEL maintainer="someone@example.com"
LABEL "com.example.vendor"="ACME Inc" com.example.version="1.0" \
      description="multi\
line"
LABEL legacy form with spaces
LABEL empty="" other=
LABEL multi.label1="value1" multi.label2="value2" other="value3"
LABEL a='single quoted $NOT_EXPANDED'
