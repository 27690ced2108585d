# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
WORKDIR C:\app
COPY . C:\app\
RUN Write-Host 'line one'; `
    Write-Host 'line two'; `
    Write-Host 'path C:\Program Files\App'
RUN New-Item -ItemType Directory -Path C:\data `
    -Force
ENV PATH="C:\app\bin;${PATH}"
CMD ["C:\\app\\app.exe"]
