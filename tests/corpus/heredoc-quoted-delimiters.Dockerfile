FROM alpine
RUN <<'EOF'
echo "$HOME is not expanded"
EOF
RUN <<"EOF"
echo "$HOME is not expanded either"
EOF
RUN <<-'EOF'
	echo chomped and quoted
	EOF
RUN <<E"O"F
partly quoted
EOF
RUN <<'E O F'
delimiter with spaces
E O F
RUN <<\EOF
escaped delimiter
EOF
