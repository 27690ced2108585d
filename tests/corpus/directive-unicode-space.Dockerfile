# escape=`
FROM alpine
RUN echo after `
  a no-break space
