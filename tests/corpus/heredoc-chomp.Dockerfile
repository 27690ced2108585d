FROM alpine
RUN <<-EOF
	echo tab-indented
		echo two tabs
  echo spaces are kept
	EOF
RUN <<-EOF
		EOF
RUN <<EOF
	EOF
EOF
