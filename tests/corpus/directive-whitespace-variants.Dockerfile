#	syntax = docker/dockerfile:1  
  #ESCAPE=`
#   check   =   skip=all   
FROM alpine
RUN echo `
  backtick continuation
