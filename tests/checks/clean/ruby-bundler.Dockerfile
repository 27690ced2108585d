FROM ruby:3.3 AS build
WORKDIR /app
ENV BUNDLE_WITHOUT="development:test" BUNDLE_DEPLOYMENT=1
COPY Gemfile Gemfile.lock ./
RUN bundle install
COPY . .

FROM ruby:3.3-slim AS runtime
WORKDIR /app
ENV BUNDLE_WITHOUT="development:test" BUNDLE_DEPLOYMENT=1
COPY --from=build /usr/local/bundle /usr/local/bundle
COPY --from=build /app /app
CMD ["bundle", "exec", "puma"]
