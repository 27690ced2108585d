# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
RUN --mount=type=cache,target=C:\cache powershell -Command Write-Host cached
COPY --from=build C:\out\app.exe C:\app\
RUN --a=x`"y echo escaped quote with backtick
RUN --b="C:\Program Files" echo backslash inside a quoted flag
