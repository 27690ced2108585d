FROM alpine
RUN echo a \   
    b \	
    c \ 	 
    d
COPY a \  
     b /dst/
