module github.com/memhpa/memhpa/scaler

go 1.26.0

require github.com/memhpa/memhpa/webhook v0.0.0

// The API lives in the webhook module; the scaler always builds against the
// copy in this repository.
replace github.com/memhpa/memhpa/webhook => ../webhook
