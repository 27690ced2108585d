# check=skip=all
# escape=`
FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
RUN echo first `
    second
COPY C:\src C:\dst
