"""One-line usage of each instruction, shown as the hint of errors about it."""

USAGE = {
    "ADD": "usage: ADD [--chown=<user>:<group>] [--chmod=<perms>] [--checksum=<sha256>] "
    "<src>... <dest>",
    "ARG": "usage: ARG <name>[=<default value>] ...",
    "COPY": "usage: COPY [--from=<stage>] [--chown=<user>:<group>] [--chmod=<perms>] "
    "<src>... <dest>",
    "ENV": "usage: ENV <key>=<value> ...",
    "EXPOSE": "usage: EXPOSE <port>[/<protocol>] ...",
    "FROM": "usage: FROM [--platform=<platform>] <image>[:<tag>|@<digest>] [AS <name>]",
    "HEALTHCHECK": "usage: HEALTHCHECK [--interval=30s --timeout=30s --retries=3] CMD <command>"
    " | HEALTHCHECK NONE",
    "LABEL": "usage: LABEL <key>=<value> ...",
    "ONBUILD": "usage: ONBUILD <instruction> (not FROM, MAINTAINER or ONBUILD)",
    "RUN": "usage: RUN [--mount=<type=...>] [--network=default|none|host] <command>"
    ' | RUN ["exe", "arg"]',
    "SHELL": 'usage: SHELL ["executable", "parameters"]',
    "STOPSIGNAL": "usage: STOPSIGNAL <signal>",
    "USER": "usage: USER <user>[:<group>]",
    "VOLUME": 'usage: VOLUME ["/data"] | VOLUME /data ...',
    "WORKDIR": "usage: WORKDIR /path/to/workdir",
}
