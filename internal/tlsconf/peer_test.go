package tlsconf

import (
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

type tlsPeer struct{ p peer.Peer }

// serial is the serial number of the certificate the server presented.
func (t *tlsPeer) serial() int64 {
	info, ok := t.p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return -1
	}
	return info.State.PeerCertificates[0].SerialNumber.Int64()
}
