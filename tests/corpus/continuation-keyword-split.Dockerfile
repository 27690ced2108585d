FROM alpine
RU\
N echo keyword split over lines
COPY \
  --from=alpine \
  /etc/os-release \
  /tmp/
