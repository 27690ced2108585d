from alpine:3.19 as base
maintainer jane
label a=b
arg version
env home=/root
workdir /src
user nobody:nogroup
run echo lower
add a.txt /a.txt
copy b.txt /b.txt
volume ["/data"]
expose 8080
healthcheck none
onbuild copy . /src
stopsignal 9
shell ["/bin/bash", "-euo", "pipefail", "-c"]
entrypoint exec /entry.sh
cmd echo done
