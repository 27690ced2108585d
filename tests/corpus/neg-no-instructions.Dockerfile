# syntax=docker/dockerfile:1

# only comments
   
	# and blank lines
