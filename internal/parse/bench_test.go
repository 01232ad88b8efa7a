package parse

import (
	"testing"
	"time"

	"github.com/vigil-soc/vigil/internal/journal"
	"github.com/vigil-soc/vigil/internal/store"
)

// benchText is a Windows logon failure as a Chinese Windows server's
// shipper sends it: an RFC 3164 header and Chinese text.
const benchText = "<134>Nov 27 23:39:14 dc01 Security-Auditing[4625]: 帐户登录失败。 使用者: 安全 ID: S-1-0-0 帐户名: 张伟 帐户域: CORP 失败信息: 失败原因: 未知用户名或密码错误。 网络信息: 工作站名: WS-PC01 源网络地址: 10.1.2.3 源端口: 50122"

func benchParse(b *testing.B, p *Parser, input string, data []byte) {
	rec := journal.Record{Seq: 1, Time: received, Input: input, Peer: "127.0.0.1:1", Data: data}
	var row store.Row
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Parse(&rec, &row)
		if i%1024 == 0 {
			p.Reset(0)
		}
	}
}

// BenchmarkParseTextUTF8 parses benchText from a UTF-8 input.
func BenchmarkParseTextUTF8(b *testing.B) {
	benchParse(b, New(Options{Location: time.UTC}), "syslog", []byte(benchText))
}
