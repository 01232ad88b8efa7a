package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// The Chinese mail service of -zh: the logs of a Coremail-style mail
// system (webmail and client logins, delivery, the spam gateway, IMAP
// and SMTP) as its servers send them over RFC 5424 syslog, mixing Chinese
// and English the way such logs do: Chinese prose with the names, cities
// and reasons glued to the text around them ("用户张伟(zhangwei@corp.cn)
// 登录失败"), key=value lines with Chinese values, JSON lines with a
// Chinese full name, and plain English postfix lines.
const zhDomain = "corp.cn"

var (
	zhSurnames = []struct{ han, pinyin string }{{"王", "wang"}, {"李", "li"}, {"张", "zhang"}, {"刘", "liu"},
		{"陈", "chen"}, {"杨", "yang"}, {"黄", "huang"}, {"赵", "zhao"}, {"吴", "wu"}, {"周", "zhou"}, {"徐", "xu"},
		{"孙", "sun"}, {"马", "ma"}, {"朱", "zhu"}, {"胡", "hu"}, {"郭", "guo"}, {"何", "he"}, {"高", "gao"},
		{"林", "lin"}, {"罗", "luo"}, {"郑", "zheng"}, {"梁", "liang"}, {"谢", "xie"}, {"宋", "song"}, {"唐", "tang"},
		{"许", "xu"}, {"韩", "han"}, {"冯", "feng"}, {"邓", "deng"}, {"曹", "cao"}, {"彭", "peng"}, {"曾", "zeng"},
		{"肖", "xiao"}, {"田", "tian"}, {"董", "dong"}, {"袁", "yuan"}, {"潘", "pan"}, {"于", "yu"}, {"蒋", "jiang"},
		{"蔡", "cai"}, {"余", "yu"}, {"杜", "du"}, {"叶", "ye"}, {"程", "cheng"}, {"苏", "su"}, {"魏", "wei"},
		{"吕", "lv"}, {"丁", "ding"}, {"任", "ren"}, {"沈", "shen"}, {"欧阳", "ouyang"}, {"上官", "shangguan"}}
	zhGiven = []struct{ han, pinyin string }{{"伟", "wei"}, {"芳", "fang"}, {"娜", "na"}, {"敏", "min"},
		{"静", "jing"}, {"丽", "li"}, {"强", "qiang"}, {"磊", "lei"}, {"军", "jun"}, {"洋", "yang"}, {"勇", "yong"},
		{"艳", "yan"}, {"杰", "jie"}, {"娟", "juan"}, {"涛", "tao"}, {"明", "ming"}, {"超", "chao"}, {"秀英", "xiuying"},
		{"霞", "xia"}, {"平", "ping"}, {"刚", "gang"}, {"桂英", "guiying"}, {"华", "hua"}, {"建华", "jianhua"},
		{"志强", "zhiqiang"}, {"海燕", "haiyan"}, {"晓东", "xiaodong"}, {"文", "wen"}, {"鹏", "peng"}, {"辉", "hui"},
		{"婷", "ting"}, {"雪", "xue"}, {"宇", "yu"}, {"浩", "hao"}, {"欣怡", "xinyi"}, {"子涵", "zihan"},
		{"梓萱", "zixuan"}, {"俊杰", "junjie"}, {"嘉怡", "jiayi"}, {"思远", "siyuan"}}
	zhCities = []string{"北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "天津", "苏州",
		"长沙", "郑州", "沈阳", "青岛", "济南", "合肥", "福州", "厦门", "昆明", "大连", "宁波", "无锡", "哈尔滨"}
	zhSubjects = []string{"关于2026年第四季度预算的通知", "Re: 项目进度汇报", "【重要】请及时修改邮箱密码",
		"Invoice INV-2026-1188 付款提醒", "会议纪要：产品评审会", "Fw: 年终总结模板", "周报-市场部-第48周",
		"您的邮箱已满，请点击链接升级", "关于召开安全生产工作会议的通知", "合同审批：华东区采购框架协议",
		"Re: Re: 报价单 Q-2026-0412", "面试安排：高级工程师岗位", "系统维护通知（12月7日凌晨）", "出差申请-成都",
		"【紧急】工资单异常，请立即核对", "Meeting notes - 供应商评审", "请查收：发票及对账单", "春节放假安排",
		"客户投诉处理进度", "新员工入职培训资料", "董事会材料（保密）", "IT服务台：VPN账号开通", "费用报销审批提醒",
		"Your package delivery failed 快递派送失败", "年度体检预约", "Re: 技术方案评审意见", "招标文件澄清说明"}
	zhLoginFail = []string{"密码错误", "密码错误", "密码错误", "验证码错误", "账号已锁定", "账号不存在", "IP不在白名单内"}
	zhClients   = []string{"网页版", "Foxmail 7.2", "Outlook 2019", "iPhone邮件", "Android客户端", "钉钉邮箱", "企业微信"}
	zhVia       = []string{"网页版", "客户端", "手机App", "SMTP", "API"}
	zhExternal  = []string{"qq.com", "163.com", "126.com", "sina.com", "partner.com.cn", "gmail.com", "supplier.cn"}
)

// zhRare is the person of -zh's rare lines: one line in 100,000 is his
// failed login, so a search for his name finds few events.
const zhRare, zhRareUser = "司马青云", "simaqingyun"

type zhUser struct {
	name, login, ip string // 张伟, zhangwei, usual address
	city            int
}

// zhGenerator makes the lines of -zh; the same seed gives the same lines.
type zhGenerator struct {
	r       *rand.Rand
	users   []zhUser
	ips     []string
	bigrams bool
	seen    map[string]bool // of bigrams, per line
}

func newZHGenerator(seed uint64, bigrams bool) *zhGenerator {
	g := &zhGenerator{r: rand.New(rand.NewPCG(seed, 0x7a68)), bigrams: bigrams, seen: map[string]bool{}}
	pub := newGenerator(seed) // its public addresses
	g.ips = pub.ips
	logins := map[string]int{}
	for range 5000 {
		// Common surnames and names come first in the lists and more often.
		s := zhSurnames[int(g.r.ExpFloat64()*float64(len(zhSurnames))/4)%len(zhSurnames)]
		n := zhGiven[int(g.r.ExpFloat64()*float64(len(zhGiven))/3)%len(zhGiven)]
		login := s.pinyin + n.pinyin
		if logins[login]++; logins[login] > 1 {
			login += strconv.Itoa(logins[login])
		}
		g.users = append(g.users, zhUser{name: s.han + n.han, login: login,
			ip: g.ips[g.r.IntN(len(g.ips))], city: g.r.IntN(len(zhCities))})
	}
	return g
}

func (g *zhGenerator) user() *zhUser {
	return &g.users[min(int(g.r.ExpFloat64()*float64(len(g.users))/5), len(g.users)-1)]
}

func (g *zhGenerator) city(u *zhUser) string {
	if g.r.IntN(20) == 0 {
		return zhCities[g.r.IntN(len(zhCities))]
	}
	return zhCities[u.city]
}

func (g *zhGenerator) pick(list []string) string { return list[g.r.IntN(len(list))] }

// line appends the i-th line (without LF) for time t to b.
func (g *zhGenerator) line(b []byte, t time.Time, i int) []byte {
	r := g.r
	u := g.user()
	host, app, pri := "mail0"+strconv.Itoa(1+r.IntN(4)), "coremail", 22 // mail.info
	var msg string
	switch k := r.IntN(100); {
	case i%100_000 == 99_999:
		app, pri = "webmail", 36 // auth.warning
		msg = fmt.Sprintf("用户%s(%s@%s)登录失败，原因：密码错误，来源IP：185.220.101.%d，地点：%s", zhRare, zhRareUser,
			zhDomain, 1+r.IntN(250), g.pick(zhCities))
	case k < 12:
		app, pri = "webmail", 36
		msg = fmt.Sprintf("用户%s(%s@%s)登录失败，原因：%s，来源IP：%s，地点：%s", u.name, u.login, zhDomain,
			g.pick(zhLoginFail), g.ips[r.IntN(len(g.ips))], g.city(u))
	case k < 36:
		app, pri = "webmail", 38
		msg = fmt.Sprintf("用户%s(%s@%s)登录成功，客户端：%s，来源IP：%s，地点：%s", u.name, u.login, zhDomain,
			g.pick(zhClients), u.ip, g.city(u))
	case k < 60:
		to := g.user()
		rcpt := to.login + "@" + zhDomain
		if r.IntN(3) == 0 {
			rcpt = to.login + "@" + g.pick(zhExternal)
		}
		msg = fmt.Sprintf("邮件投递成功：发件人 %s@%s 收件人 %s 主题：%s 大小 %d字节", u.login, zhDomain, rcpt,
			g.pick(zhSubjects), 2000+r.IntN(5_000_000))
	case k < 65:
		app, pri = "mailgw", 20 // mail.warning
		msg = fmt.Sprintf("检测到垃圾邮件：来自 %s@%s 收件人 %s@%s 主题\"%s\" 已隔离，评分 %d",
			g.pick([]string{"service", "admin", "noreply", "hr", "finance"}), g.pick(zhExternal), u.login, zhDomain,
			g.pick(zhSubjects), 60+r.IntN(40))
	case k < 67:
		a, b := g.city(u), g.pick(zhCities)
		msg = fmt.Sprintf("账号%s@%s在%s和%s异地登录，间隔%d分钟", u.login, zhDomain, a, b, 1+r.IntN(90))
		app, pri = "webmail", 36
	case k < 75:
		app = "imapd"
		result, reason := "成功", "-"
		if r.IntN(4) == 0 {
			result, reason = "失败", g.pick(zhLoginFail)
		}
		msg = fmt.Sprintf("user=%s@%s full_name=%s action=登录 result=%s reason=%s src=%s city=%s proto=IMAP",
			u.login, zhDomain, u.name, result, reason, u.ip, g.city(u))
	case k < 85:
		to := g.user()
		app = "mta"
		msg = fmt.Sprintf(`{"user":{"name":"%s","full_name":"%s"},"message":"用户%s通过%s发送邮件给%s","source":{"ip":"%s"},"city":"%s","size":%d}`,
			u.login, u.name, u.name, g.pick(zhVia), to.name, u.ip, g.city(u), 2000+r.IntN(900_000))
	case k < 92:
		app = "postfix/smtpd"
		msg = fmt.Sprintf("connect from unknown[%s]", g.ips[r.IntN(len(g.ips))])
	case k < 96:
		app = "postfix/smtpd"
		msg = fmt.Sprintf("warning: unknown[%s]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=%s@%s",
			g.ips[r.IntN(len(g.ips))], u.login, zhDomain)
	default:
		app = "postfix/smtpd"
		msg = fmt.Sprintf("NOQUEUE: reject: RCPT from unknown[%s]: 550 5.1.1 <%s@%s>: Recipient address rejected: 用户不存在; from=<%s@%s> proto=ESMTP",
			g.ips[r.IntN(len(g.ips))], g.pick([]string{"lisi", "wangwu", "test", "info"}), zhDomain,
			u.login, g.pick(zhExternal))
	}
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(pri), 10)
	b = append(b, ">1 "...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	b = append(b, app...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(1000+r.IntN(30000)), 10)
	b = append(b, " - "...)
	if g.bigrams {
		b = append(b, `[bg@32473 h="`...)
		b = g.appendBigrams(b, msg)
		b = append(b, `"] `...)
	} else {
		b = append(b, "- "...)
	}
	return append(b, msg...)
}

// appendBigrams appends the distinct pairs of adjacent Han characters of
// s, separated by spaces: what indexing Chinese text by character pairs
// adds to an event (docs/benchmarks.md, "Chinese search").
func (g *zhGenerator) appendBigrams(b []byte, s string) []byte {
	clear(g.seen)
	n := len(b)
	prev := -1 // start of the previous rune when it was Han
	for i, r := range s {
		if !unicode.Is(unicode.Han, r) {
			prev = -1
			continue
		}
		if prev >= 0 {
			pair := s[prev : i+utf8.RuneLen(r)]
			if !g.seen[pair] {
				g.seen[pair] = true
				if len(b) > n {
					b = append(b, ' ')
				}
				b = append(b, pair...)
			}
		}
		prev = i
	}
	return b
}

// generateZH writes n lines of -zh to path.
func generateZH(path string, n int, seed uint64, start time.Time, span time.Duration, bigrams bool) error {
	g := newZHGenerator(seed, bigrams)
	return writeLines(path, n, start, span, g.line)
}
