FROM alpine
RUN echo a \

    b \
   
	
    c
RUN apt-get update && \

    apt-get install -y \
        curl \

        git
