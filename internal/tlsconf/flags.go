package tlsconf

import "github.com/cartstream/cartstream/internal/service"

// ServerFlags registers a listener's TLS flags: -tls-cert, -tls-key and
// -tls-client-ca (env CARTSTREAM_TLS_CERT, _KEY, _CLIENT_CA). None set:
// plaintext.
func ServerFlags(e *service.EnvFlags, s *Server) {
	e.String(&s.CertFile, "tls-cert", "CARTSTREAM_TLS_CERT", "", "PEM server certificate (chain); with -tls-key turns TLS on; reloaded when the file changes")
	e.String(&s.KeyFile, "tls-key", "CARTSTREAM_TLS_KEY", "", "PEM private key of -tls-cert")
	e.String(&s.ClientCAFile, "tls-client-ca", "CARTSTREAM_TLS_CLIENT_CA", "", "PEM CA(s) every client certificate must be signed by: mutual TLS")
}

// PrefixedServerFlags registers a second listener's TLS flags:
// -<name>-cert, -<name>-key and -<name>-client-ca (env <ENV>_CERT, _KEY,
// _CLIENT_CA); what names the listener in the help.
func PrefixedServerFlags(e *service.EnvFlags, s *Server, name, env, what string) {
	e.String(&s.CertFile, name+"-cert", env+"_CERT", "", "PEM server certificate (chain) of "+what+"; with -"+name+"-key turns TLS on; reloaded when the file changes")
	e.String(&s.KeyFile, name+"-key", env+"_KEY", "", "PEM private key of -"+name+"-cert")
	e.String(&s.ClientCAFile, name+"-client-ca", env+"_CLIENT_CA", "", "PEM CA(s) every client certificate of "+what+" must be signed by: mutual TLS")
}

// ClientFlags registers a client's TLS flags named -<name>-tls,
// -<name>-ca, -<name>-cert, -<name>-key and -<name>-server-name (env
// CARTSTREAM_<ENV>_TLS, ...).
func ClientFlags(e *service.EnvFlags, c *Client, name, env, what string) {
	e.Bool(&c.On, name+"-tls", "CARTSTREAM_"+env+"_TLS", false, "connect to "+what+" over TLS (the system's roots unless -"+name+"-ca)")
	e.String(&c.CAFile, name+"-ca", "CARTSTREAM_"+env+"_CA", "", "PEM CA that signed "+what+"'s certificate (turns TLS on)")
	e.String(&c.CertFile, name+"-cert", "CARTSTREAM_"+env+"_CERT", "", "PEM client certificate for mutual TLS with "+what)
	e.String(&c.KeyFile, name+"-key", "CARTSTREAM_"+env+"_KEY", "", "PEM private key of -"+name+"-cert")
	e.String(&c.ServerName, name+"-server-name", "CARTSTREAM_"+env+"_SERVER_NAME", "", "name to verify in "+what+"'s certificate (default: the address's host)")
}
