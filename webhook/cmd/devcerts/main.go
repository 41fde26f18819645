// Command devcerts writes a development CA and a serving certificate for the
// webhook into a directory (ca.crt, ca.key, tls.crt, tls.key). Run it again to
// rotate the serving certificate under the same CA. For development only.
package main

import (
	"fmt"
	"net"
	"os"

	"github.com/spf13/pflag"

	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

func main() {
	fs := pflag.NewFlagSet("devcerts", pflag.ContinueOnError)
	out := fs.String("out", "certs/out", "directory to write ca.crt, ca.key, tls.crt and tls.key into (the CA there is reused)")
	dnsNames := fs.StringSlice("dns", []string{"localhost"}, "DNS names of the serving certificate")
	ips := fs.IPSlice("ip", []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, "IP addresses of the serving certificate")
	validity := fs.Duration("validity", devcerts.DefaultServingValidity, "lifetime of the serving certificate")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	_, kp, err := devcerts.Generate(*out, devcerts.ServingOptions{DNSNames: *dnsNames, IPs: *ips, Validity: *validity})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcerts:", err)
		os.Exit(1)
	}
	fmt.Printf("Wrote %s/{%s,%s,%s,%s}: serial %x, names %v %v, valid until %s\n",
		*out, devcerts.CACertFile, devcerts.CAKeyFile, devcerts.CertFile, devcerts.KeyFile,
		kp.Cert.SerialNumber, kp.Cert.DNSNames, kp.Cert.IPAddresses, kp.Cert.NotAfter.UTC().Format("2006-01-02T15:04Z"))
}
