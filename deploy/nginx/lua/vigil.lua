-- vigil.lua: enforce Vigil's decisions in nginx without a request to Vigil.
--
-- For OpenResty, or Debian's nginx with libnginx-mod-http-lua and
-- lua-cjson. One worker pulls Vigil's decision stream (the CrowdSec
-- bouncer stream, GET /v1/decisions/stream, with Vigil's user and device
-- scopes) and the registered ActiveSync devices with Vigil's
-- enforce.devices mode (GET /api/v1/enforce/devices), both with one
-- bouncer key, every few seconds into a lua_shared_dict; every worker checks each request against that dict
-- only. docs/integrations/nginx.md shows the configuration
-- (deploy/nginx/vigil-lua.conf).
--
-- A request is refused (403) when its client address is banned (ip or
-- range decision), its user is banned (Basic auth user, ActiveSync User=,
-- the username of OWA's login form), its ActiveSync DeviceId is banned,
-- or, in registered-only mode, its DeviceId is not registered for its
-- user. While Vigil cannot be reached, the decisions already pulled stay
-- in force until they expire, and nothing new arrives (fail open).

local cjson = require "cjson.safe"

local M = { _VERSION = "1" }

local ngx = ngx
local shared = ngx.shared
local log, ERR, WARN, INFO = ngx.log, ngx.ERR, ngx.WARN, ngx.INFO
local lower, sub, find, byte = string.lower, string.sub, string.find, string.byte
local tonumber = tonumber

local conf = {
    url = "http://127.0.0.1:8514",  -- Vigil's API (http.addr); https:// needs lua_ssl_trusted_certificate
    host = "localhost",             -- Host header sent (a name Vigil answers to)
    bouncer_key = nil,              -- X-Api-Key for Vigil (vigil bouncers add NAME)
    interval = 2,                   -- seconds between pulls
    dict = "vigil",                 -- the lua_shared_dict's name
    devices = nil,                  -- nil: Vigil's enforce.devices; or off | learn | registered-only
    timeout = 3000,                 -- milliseconds per network operation
}

-- Shared dict keys: "d:ip:<addr>", "d:user:<name>", "d:device:<id>" hold a
-- decision's reason until it expires (the dict's TTL); "ranges" the
-- range decisions as "cidr expiry reason\n" lines; "r:<user>\0<device>"
-- a registered device, "reg:gen" the registry generation those keys
-- carry, "reg:mode" the device mode Vigil last gave, "reg:ok" whether a
-- registry was ever pulled.

-- normalize_user reads a user as Vigil's user.name: lower case, without
-- a DOMAIN\ prefix or an @domain suffix.
local function normalize_user(u)
    if not u or u == "" or u == "-" then return nil end
    local i = find(u, "\\[^\\]*$")
    if i then u = sub(u, i + 1) else
        local j = find(u, "@[^@]*$")
        if j and j > 1 then u = sub(u, 1, j - 1) end
    end
    if u == "" then return nil end
    return lower(u)
end
M.normalize_user = normalize_user

-- parse_duration reads a Go/CrowdSec duration ("59m50.5s") as seconds.
local units = { h = 3600, m = 60, s = 1, ms = 1e-3, us = 1e-6, ["µs"] = 1e-6, ns = 1e-9 }
local function parse_duration(s)
    if type(s) ~= "string" then return nil end
    local neg = sub(s, 1, 1) == "-"
    local total, n = 0, 0
    for num, unit in s:gmatch("([%d%.]+)(%a+)") do
        local f = units[unit]
        local v = tonumber(num)
        if not f or not v then return nil end
        total = total + v * f
        n = n + 1
    end
    if n == 0 then return nil end
    if neg then return -total end
    return total
end
M.parse_duration = parse_duration

-- IP addresses as 16-byte strings (IPv4 as IPv4-mapped IPv6) for range
-- matching.
local function ip4_bytes(s)
    local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then return nil end
    a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
    if a > 255 or b > 255 or c > 255 or d > 255 then return nil end
    return string.char(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, a, b, c, d)
end

local function ip_bytes(s)
    if not s then return nil end
    if not find(s, ":", 1, true) then return ip4_bytes(s) end
    local tail4
    local v4 = s:match(":(%d+%.%d+%.%d+%.%d+)$")
    if v4 then
        tail4 = ip4_bytes(v4)
        if not tail4 then return nil end
        s = sub(s, 1, #s - #v4) .. "0:0"
    end
    local head, tail = s:match("^(.-)::(.*)$")
    local groups = {}
    local function split(part, out)
        if part == "" then return true end
        for g in (part .. ":"):gmatch("([^:]*):") do
            if not g:match("^%x%x?%x?%x?$") then return false end
            out[#out + 1] = tonumber(g, 16)
        end
        return true
    end
    if head then
        local h, t = {}, {}
        if not split(head, h) or not split(tail, t) then return nil end
        if #h + #t > 7 then return nil end
        for _, g in ipairs(h) do groups[#groups + 1] = g end
        for _ = 1, 8 - #h - #t do groups[#groups + 1] = 0 end
        for _, g in ipairs(t) do groups[#groups + 1] = g end
    else
        if not split(s, groups) or #groups ~= 8 then return nil end
    end
    local out = {}
    for i = 1, 8 do
        out[#out + 1] = string.char(math.floor(groups[i] / 256), groups[i] % 256)
    end
    local b = table.concat(out)
    if tail4 then b = sub(b, 1, 12) .. sub(tail4, 13, 16) end
    return b
end
M.ip_bytes = ip_bytes

-- canonical_ip returns the address as Vigil writes it (IPv4 for a
-- mapped address, IPv6 as given, lower case).
local function canonical_ip(s)
    local m = s and s:match("^::[fF][fF][fF][fF]:(%d+%.%d+%.%d+%.%d+)$")
    if m then return m end
    return s and lower(s)
end

local function in_prefix(addr, net, bits)
    local full = math.floor(bits / 8)
    if sub(addr, 1, full) ~= sub(net, 1, full) then return false end
    local rest = bits % 8
    if rest == 0 then return true end
    local d = 2 ^ (8 - rest)
    return math.floor(byte(addr, full + 1) / d) == math.floor(byte(net, full + 1) / d)
end

-- parse_cidr returns the 16-byte network and the prefix length in
-- IPv6 bits.
local function parse_cidr(cidr)
    local a, bits = cidr:match("^(.+)/(%d+)$")
    if not a then return nil end
    bits = tonumber(bits)
    local b = ip_bytes(a)
    if not b then return nil end
    if not find(a, ":", 1, true) then
        if bits > 32 then return nil end
        bits = bits + 96
    elseif bits > 128 then
        return nil
    end
    return b, bits
end
M.parse_cidr = parse_cidr

-- Per worker: the parsed range list and the dict version it came from.
local ranges_src, ranges = nil, {}

local function range_match(dict, addr_bytes, now)
    local src = dict:get("ranges")
    if src ~= ranges_src then
        ranges = {}
        for cidr, exp, reason in (src or ""):gmatch("(%S+) (%S+) ([^\n]*)\n") do
            local net, bits = parse_cidr(cidr)
            if net then ranges[#ranges + 1] = { net = net, bits = bits, exp = tonumber(exp), reason = reason, cidr = cidr } end
        end
        ranges_src = src
    end
    for _, r in ipairs(ranges) do
        if r.exp > now and in_prefix(addr_bytes, r.net, r.bits) then
            return "range " .. r.cidr .. ": " .. r.reason
        end
    end
    return nil
end

-- ActiveSync's query, plain or base64 ([MS-ASHTTP] 2.2.1.1.1): user,
-- device. A base64 DeviceId is text when printable, else upper-case hex
-- (as Vigil's check reads it).
local function activesync(args_str)
    if not args_str or args_str == "" then return nil, nil end
    if find(args_str, "=[^=]") or find(args_str, "&", 1, true) then
        local args = ngx.decode_args(args_str, 32)
        local user, dev
        for k, v in pairs(args) do
            if type(v) == "table" then v = v[1] end
            if type(v) == "string" then
                local lk = lower(k)
                if lk == "user" then user = v elseif lk == "deviceid" then dev = v end
            end
        end
        return user, dev
    end
    local raw = ngx.decode_base64(ngx.unescape_uri(args_str))
    if not raw or #raw < 5 then return nil, nil end
    local pos = 5
    local function field()
        local n = byte(raw, pos)
        if not n or pos + n > #raw then return nil end
        local v = sub(raw, pos + 1, pos + n)
        pos = pos + n + 1
        return v
    end
    local dev = field()
    if not dev or dev == "" or not field() or not field() then return nil, nil end
    if dev:find("[^\33-\126]") then
        dev = dev:gsub(".", function(c) return string.format("%02X", byte(c)) end)
    end
    local user
    while pos + 1 <= #raw do
        local tag = byte(raw, pos)
        pos = pos + 1
        local v = field()
        if not v then break end
        if tag == 8 then user = v end
    end
    return user, dev
end
M.activesync = activesync

local function deny(reason)
    ngx.var.vigil_reason = reason
    return ngx.exit(ngx.HTTP_FORBIDDEN)
end

-- check is the access_by_lua handler.
function M.check()
    local dict = shared[conf.dict]
    if not dict then
        log(ERR, "vigil: no lua_shared_dict ", conf.dict, ": requests pass unchecked")
        return
    end
    local now = ngx.now()
    local var = ngx.var
    local ip = canonical_ip(var.remote_addr)
    local r = dict:get("d:ip:" .. ip)
    if r then return deny("ip " .. ip .. ": " .. r) end
    local ab = ip_bytes(ip)
    if ab then
        r = range_match(dict, ab, now)
        if r then return deny(r) end
    end

    local uri = var.uri or ""
    local is_eas = lower(sub(uri, 1, 28)) == "/microsoft-server-activesync"
    local users = {}
    local basic = normalize_user(var.remote_user)
    if basic then users[#users + 1] = basic end
    local as_user, dev
    if is_eas then
        as_user, dev = activesync(var.args)
        as_user = normalize_user(as_user)
        if as_user and as_user ~= basic then users[#users + 1] = as_user end
    elseif var.request_method == "POST" and lower(uri) == "/owa/auth.owa" then
        -- OWA's form login: the user name is in the body.
        ngx.req.read_body()
        local args = ngx.req.get_post_args(16)
        local u = args and args.username
        if type(u) == "table" then u = u[1] end
        u = normalize_user(u)
        if u then users[#users + 1] = u end
    end
    for _, u in ipairs(users) do
        r = dict:get("d:user:" .. u)
        if r then return deny("user " .. u .. ": " .. r) end
    end
    if dev and dev ~= "" then
        r = dict:get("d:device:" .. lower(dev))
        if r then return deny("device " .. dev .. ": " .. r) end
    end

    local mode = conf.devices or dict:get("reg:mode") or "off"
    if mode == "off" or not is_eas then return end
    if not dict:get("reg:ok") then return end -- no registry pulled yet: fail open
    local user = users[1]
    if not user or not dev or dev == "" then
        if mode == "registered-only" and var.args and var.args ~= "" then
            return deny("registered-only: an ActiveSync request without a DeviceId and user")
        end
        return
    end
    -- A device is registered when the latest complete pull (or the one
    -- under way) saw it.
    local g = dict:get("r:" .. user .. "\0" .. lower(dev))
    if g and g >= (dict:get("reg:gen") or 0) then return end
    if mode == "registered-only" then
        return deny("registered-only: device " .. dev .. " is not registered for " .. user)
    end
    ngx.var.vigil_reason = "learn: device " .. dev .. " is not registered for " .. user
end

-- http_get fetches url's path with headers; returns status, body.
local function http_get(path, headers)
    local scheme, host, port = conf.url:match("^(https?)://([^:/]+):?(%d*)")
    if not scheme then return nil, "bad url " .. conf.url end
    port = tonumber(port) or (scheme == "https" and 443 or 80)
    local sock = ngx.socket.tcp()
    sock:settimeout(conf.timeout)
    local ok, err = sock:connect(host, port)
    if not ok then return nil, "connect " .. conf.url .. ": " .. err end
    if scheme == "https" then
        ok, err = sock:sslhandshake(nil, conf.host, true)
        if not ok then sock:close() return nil, "tls: " .. err end
    end
    local req = { "GET ", path, " HTTP/1.0\r\nHost: ", conf.host, "\r\nUser-Agent: vigil-lua/", M._VERSION, "\r\n" }
    for k, v in pairs(headers) do req[#req + 1] = k .. ": " .. v .. "\r\n" end
    req[#req + 1] = "\r\n"
    ok, err = sock:send(req)
    if not ok then sock:close() return nil, "send: " .. err end
    local status_line
    status_line, err = sock:receive("*l")
    if not status_line then sock:close() return nil, "receive: " .. err end
    local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
    repeat
        local line
        line, err = sock:receive("*l")
        if not line then sock:close() return nil, "receive headers: " .. err end
    until line == ""
    local body
    body, err = sock:receive("*a")
    sock:close()
    if not body then return nil, "receive body: " .. err end
    return status, body
end

local function store_decision(dict, d, now, ranges_tbl)
    if type(d) ~= "table" or type(d.value) ~= "string" or type(d.scope) ~= "string" then return end
    if d.type ~= "ban" then return end -- captcha, throttle: not enforced here
    local ttl = parse_duration(d.duration)
    if not ttl or ttl <= 0 then return end
    local scope = lower(d.scope)
    local reason = (d.scenario ~= nil and d.scenario ~= cjson.null and d.scenario ~= "" and d.scenario or "vigil") .. " #" .. tostring(d.id)
    if scope == "ip" then
        dict:set("d:ip:" .. canonical_ip(d.value), reason, ttl)
    elseif scope == "user" then
        local u = normalize_user(d.value)
        if u then dict:set("d:user:" .. u, reason, ttl) end
    elseif scope == "device" then
        dict:set("d:device:" .. lower(d.value), reason, ttl)
    elseif scope == "range" then
        ranges_tbl[d.value] = { exp = now + ttl, reason = reason:gsub("\n", " ") }
    end
end

local function delete_decision(dict, d, ranges_tbl)
    if type(d) ~= "table" or type(d.value) ~= "string" or type(d.scope) ~= "string" then return end
    local scope = lower(d.scope)
    if scope == "ip" then dict:delete("d:ip:" .. canonical_ip(d.value))
    elseif scope == "user" then
        local u = normalize_user(d.value)
        if u then dict:delete("d:user:" .. u) end
    elseif scope == "device" then dict:delete("d:device:" .. lower(d.value))
    elseif scope == "range" then ranges_tbl[d.value] = nil end
end

local started = false

local function pull_decisions(dict)
    if not conf.bouncer_key then return end
    local startup = started and "false" or "true"
    local status, body = http_get("/v1/decisions/stream?startup=" .. startup .. "&scopes=ip,range,user,device",
        { ["X-Api-Key"] = conf.bouncer_key })
    if status ~= 200 then
        log(WARN, "vigil: decision stream: ", status or "", " ", status and sub(body or "", 1, 200) or body)
        return
    end
    local data = cjson.decode(body)
    if type(data) ~= "table" then
        log(WARN, "vigil: decision stream: not JSON")
        return
    end
    local now = ngx.now()
    local ranges_tbl = {}
    if started then
        for cidr, exp, reason in (dict:get("ranges") or ""):gmatch("(%S+) (%S+) ([^\n]*)\n") do
            if tonumber(exp) > now then ranges_tbl[cidr] = { exp = tonumber(exp), reason = reason } end
        end
    else
        -- startup: drop what an earlier worker pulled; the answer has it all.
        for _, k in ipairs(dict:get_keys(0)) do
            if sub(k, 1, 2) == "d:" then dict:delete(k) end
        end
    end
    if type(data.deleted) == "table" then
        for _, d in ipairs(data.deleted) do delete_decision(dict, d, ranges_tbl) end
    end
    if type(data.new) == "table" then
        for _, d in ipairs(data.new) do store_decision(dict, d, now, ranges_tbl) end
    end
    local out = {}
    for cidr, r in pairs(ranges_tbl) do out[#out + 1] = cidr .. " " .. r.exp .. " " .. r.reason .. "\n" end
    dict:set("ranges", table.concat(out))
    started = true
end

local function pull_registry(dict)
    if conf.devices == "off" then return end
    local status, body = http_get("/api/v1/enforce/devices", { ["X-Api-Key"] = conf.bouncer_key })
    if status ~= 200 then
        log(WARN, "vigil: device registry: ", status or "", " ", status and sub(body or "", 1, 200) or body)
        return
    end
    local page = cjson.decode(body)
    if type(page) ~= "table" or type(page.devices) ~= "table" or type(page.mode) ~= "string" then
        log(WARN, "vigil: device registry: not the expected JSON")
        return
    end
    local gen = (dict:get("reg:gen") or 0) + 1
    local n = 0
    for _, e in ipairs(page.devices) do
        local u = normalize_user(e.user)
        if u and type(e.device) == "string" then
            local ok, err = dict:set("r:" .. u .. "\0" .. lower(e.device), gen)
            if not ok then
                -- A partial registry would refuse registered phones.
                log(ERR, "vigil: device registry: shared dict: ", err, "; registry not updated")
                return
            end
            n = n + 1
        end
    end
    -- Entries of older generations no longer count (the dict evicts them
    -- when it is full).
    dict:set("reg:gen", gen)
    dict:set("reg:mode", page.mode)
    if not dict:get("reg:ok") or dict:get("reg:n") ~= n then
        log(INFO, "vigil: device registry: ", n, " active devices, Vigil's mode ", page.mode)
    end
    dict:set("reg:n", n)
    dict:set("reg:ok", true)
end

local function pull(premature)
    if premature then return end
    local dict = shared[conf.dict]
    if not dict then return end
    local ok, err = pcall(pull_decisions, dict)
    if not ok then log(ERR, "vigil: decision stream: ", err) end
    ok, err = pcall(pull_registry, dict)
    if not ok then log(ERR, "vigil: device registry: ", err) end
end

-- init sets the configuration (init_by_lua).
function M.init(opts)
    for k, v in pairs(opts or {}) do
        if conf[k] == nil and k ~= "bouncer_key" and k ~= "devices" then
            error("vigil: unknown option " .. k)
        end
        conf[k] = v
    end
    local d = conf.devices
    if d ~= nil and d ~= "off" and d ~= "learn" and d ~= "registered-only" then
        error("vigil: devices must be nil (Vigil's mode), off, learn or registered-only")
    end
end

-- init_worker starts the pulls in worker 0 (init_worker_by_lua).
function M.init_worker()
    if ngx.worker.id() ~= 0 then return end
    local ok, err = ngx.timer.at(0, pull)
    if not ok then log(ERR, "vigil: timer: ", err) end
    ok, err = ngx.timer.every(conf.interval, pull)
    if not ok then log(ERR, "vigil: timer: ", err) end
end

return M
