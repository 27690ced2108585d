FROM alpine
CMD ['single', 'quotes']
CMD ["trailing", "comma",]
CMD ["missing bracket"
CMD [unquoted]
CMD ["a" "b"]
CMD {"object": "form"}
CMD ["\x41"]
CMD [NaN]
CMD ["tab	inside"]
CMD [1e400]
ENTRYPOINT ["a",, "b"]
COPY ["a", b] /c/
