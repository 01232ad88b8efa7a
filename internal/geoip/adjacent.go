package geoip

import "strings"

// provinceBorders lists, for each province-level division of mainland
// China (as Location.Region names them), the ones it shares a land border
// with. Hainan has none. Hong Kong and Macao are places of their own
// (HK, MO), not provinces.
var provinceBorders = map[string]string{
	"北京":  "天津 河北",
	"天津":  "北京 河北",
	"河北":  "北京 天津 山西 内蒙古 辽宁 山东 河南",
	"山西":  "河北 内蒙古 陕西 河南",
	"内蒙古": "黑龙江 吉林 辽宁 河北 山西 陕西 宁夏 甘肃",
	"辽宁":  "吉林 内蒙古 河北",
	"吉林":  "黑龙江 内蒙古 辽宁",
	"黑龙江": "吉林 内蒙古",
	"上海":  "江苏 浙江",
	"江苏":  "上海 浙江 安徽 山东",
	"浙江":  "上海 江苏 安徽 江西 福建",
	"安徽":  "江苏 浙江 江西 湖北 河南 山东",
	"福建":  "浙江 江西 广东",
	"江西":  "浙江 安徽 湖北 湖南 广东 福建",
	"山东":  "河北 河南 安徽 江苏",
	"河南":  "河北 山西 陕西 湖北 安徽 山东",
	"湖北":  "河南 安徽 江西 湖南 重庆 陕西",
	"湖南":  "湖北 江西 广东 广西 贵州 重庆",
	"广东":  "福建 江西 湖南 广西",
	"广西":  "广东 湖南 贵州 云南",
	"海南":  "",
	"重庆":  "四川 贵州 湖南 湖北 陕西",
	"四川":  "重庆 贵州 云南 西藏 青海 甘肃 陕西",
	"贵州":  "四川 重庆 湖南 广西 云南",
	"云南":  "四川 贵州 广西 西藏",
	"西藏":  "新疆 青海 四川 云南",
	"陕西":  "山西 河南 湖北 重庆 四川 甘肃 宁夏 内蒙古",
	"甘肃":  "陕西 宁夏 内蒙古 新疆 青海 四川",
	"青海":  "甘肃 新疆 西藏 四川",
	"宁夏":  "甘肃 陕西 内蒙古",
	"新疆":  "甘肃 青海 西藏",
}

// Adjacent reports whether two Chinese provinces share a land border,
// by their names with or without the administrative suffix (广东,
// 广东省). A province is not adjacent to itself.
func Adjacent(a, b string) bool {
	a, b = trimRegion(a), trimRegion(b)
	if a == b {
		return false
	}
	for _, n := range strings.Fields(provinceBorders[a]) {
		if n == b {
			return true
		}
	}
	return false
}
