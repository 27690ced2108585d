FROM alpineRUN echo a lone CR does not end a lineCMD x
