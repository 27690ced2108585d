FROM alpine AS 2fast
