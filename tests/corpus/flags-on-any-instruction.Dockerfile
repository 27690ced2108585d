FROM --platform=$BUILDPLATFORM alpine AS base
WORKDIR --x /srv
ENV --y A=1
USER --z root
EXPOSE --proto 80
HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --start-interval=1s --retries=3 CMD true
ONBUILD --outer RUN --inner echo nested flags
CMD --not-a-flag
