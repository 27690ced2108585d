FROM alpine
LABEL description="Ünïcödé — 日本語 — emoji 🚀"
RUN echo "Grüße aus Köln" > /greeting
ENV NAME=José CITY=São\ Paulo
COPY ["données/", "/données/"]
WORKDIR /opt/приложение
CMD ["echo", "héllo"]
