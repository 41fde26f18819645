// Package certmanager runs cert-manager's own controllers (the root module's
// pkg/controller: issuers, certificate request signers for SelfSigned and CA,
// the certificate issuing pipeline and the CA injector) in the test process
// against a local control plane, installs charts/memhpa with its default TLS
// settings, and checks that cert-manager issues the serving certificate and
// injects its CA into both webhook configurations.
//
// It is its own package, with its own control plane, so that the weight of
// cert-manager's dependencies is paid only by this test binary.
package certmanager
