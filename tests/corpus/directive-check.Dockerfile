# check=skip=JSONArgsRecommended,StageNameCasing;error=true
FROM alpine AS Build
CMD echo shell form on purpose
