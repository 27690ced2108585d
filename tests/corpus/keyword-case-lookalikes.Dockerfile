FROM alpine
MAİNTAINER someone
ENTRYPOİNT ["sh"]
onbuıld RUN echo dotless i is no ONBUILD
ſtopsignal 9
HEALTHCHECK NONE
ONBUİLD RUN echo dotted capital I lowers to i
