FROM	alpine
RUN	echo	tabs	
COPY	a		b	/c/
ENV	A=1	B=2
RUN echo no-break space is not a separator here
EXPOSE 80 443
LABEL a=" b"
 
RUN echo after a line of unicode space
RUN echo vertical tab before the keyword
