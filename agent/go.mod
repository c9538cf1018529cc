module plinth/agent

go 1.19
