

   
	
FROM alpine


   RUN echo indented instruction
		CMD ["x"]   

