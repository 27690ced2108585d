# escape=`

ARG REPO=mcr.microsoft.com/dotnet/aspnet
FROM mcr.microsoft.com/dotnet/sdk:8.0-windowsservercore-ltsc2022 AS build
WORKDIR C:\source
COPY *.csproj .
RUN dotnet restore
COPY . .
RUN dotnet publish --no-restore -c Release -o C:\app

FROM $REPO:8.0-windowsservercore-ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
ENV ASPNETCORE_HTTP_PORTS=8080 `
    DOTNET_RUNNING_IN_CONTAINER=true
RUN $url = 'https://example.com/dotnet.zip'; `
    Invoke-WebRequest -OutFile dotnet.zip $url; `
    Expand-Archive dotnet.zip -DestinationPath $Env:ProgramFiles\dotnet; `
    Remove-Item -Force dotnet.zip
RUN setx /M PATH "%PATH%;C:\Program Files\dotnet"
WORKDIR C:\app
COPY --from=build C:\app .
USER ContainerUser
ENTRYPOINT ["dotnet", "aspnetapp.dll"]
