module github.com/memhpa/memhpa/test

go 1.26.0

require github.com/memhpa/memhpa/webhook v0.0.0

replace github.com/memhpa/memhpa/webhook => ../webhook
