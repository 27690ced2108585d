# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2019
ENV JAVA_HOME=C:\openjdk-17 `
    PATH="C:\openjdk-17\bin;C:\Windows\system32"
COPY C:\Users\build\app.jar C:\app\
RUN powershell -Command `
    $ErrorActionPreference = 'Stop'; `
    Write-Host `"quoted`"; `
    Get-ChildItem C:\
WORKDIR C:\app
RUN echo ``two backticks`` at the end ``
RUN echo next
