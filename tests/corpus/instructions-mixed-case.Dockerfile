From alpine AS Builder
Run echo mixed
rUn echo "still RUN"
CoPy --from=Builder /a /b
EnV A=1
LaBeL "quoted key"="quoted value"
ArG X
WorkDir /tmp
UsEr 1000
ExPoSe 22
VoLuMe /v
HealthCheck CMD true
OnBuild Run echo nested
StopSignal SIGINT
ShElL ["sh", "-c"]
EntryPoint ["sh"]
CmD ["-c", "true"]
MaInTaInEr someone
ADd . /
