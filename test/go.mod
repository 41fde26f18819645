module github.com/memhpa/memhpa/test

go 1.26.0

require github.com/memhpa/memhpa/webhook v0.0.0

require (
	github.com/moby/buildkit v0.31.0
	github.com/moby/patternmatcher v0.6.1
)

replace github.com/memhpa/memhpa/webhook => ../webhook
