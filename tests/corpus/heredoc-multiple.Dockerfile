FROM alpine
RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2
content of one
FILE1
content of two
FILE2
RUN python3 <<PY && sh <<SH
print("python")
PY
echo sh
SH
RUN <<A <<B <<C
a
A
b
B
c
C
