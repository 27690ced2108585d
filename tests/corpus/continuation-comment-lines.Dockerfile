FROM alpine
RUN set -eux; \
# install packages
    apk add --no-cache \
#        disabled-package \
        bash \
        # this comment line is skipped as well \
        coreutils; \
    echo done
