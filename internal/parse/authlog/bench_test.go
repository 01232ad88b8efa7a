package authlog

import (
	"testing"

	"github.com/vigil-soc/vigil/internal/parse/format"
	"github.com/vigil-soc/vigil/internal/parse/format/formattest"
)

func bench(b *testing.B, app, line string) {
	formattest.Bench(b, Text(), &format.Source{App: app}, []byte(line))
}

func BenchmarkFailedPassword(b *testing.B) {
	bench(b, "sshd", "Failed password for invalid user oracle from 198.51.100.23 port 40022 ssh2")
}

func BenchmarkPAMFailure(b *testing.B) {
	bench(b, "sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.45  user=root")
}

func BenchmarkUntagged(b *testing.B) {
	bench(b, "", "Accepted publickey for lisi from 192.0.2.44 port 50322 ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg")
}
