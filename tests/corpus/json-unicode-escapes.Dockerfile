FROM alpine
CMD ["caf\u00e9", "\u65e5\u672c"]
CMD ["emoji \ud83d\ude00"]
CMD ["lone \ud800 surrogate"]
CMD ["reversed \udc00\ud800 pair"]
CMD ["line\u2028separator", "\/slash", "\"quote\"", "back\\slash"]
CMD ["tab\tnewline\n"]
CMD ["plain unicode: é €"]
