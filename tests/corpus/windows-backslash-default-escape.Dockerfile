FROM mcr.microsoft.com/windows/nanoserver
COPY testfile.txt c:\\
RUN dir c:\
WORKDIR c:\\app
ENV DIR=C:\Program\ Files
