"""The fixed part of the ITBP Wireshark dissector: the Lua that does not depend on the catalog.

Why apart: ``wireshark_lua.py`` (beside this module) renders the catalog's messages and fields into Lua and
appends this engine, which registers the protocol, decodes COBS, checks the CRC-32C, parses the
header, flags and authentication trailer, and dispatches to the rendered message dissectors.
Plain text; nothing here reads or writes a file.
"""

from __future__ import annotations

LUA_ENGINE = r"""
local itbp = Proto("itbp", "Intrathecal pump telemetry protocol (ITBP)")

local H = {
  wire_len = ProtoField.uint32("itbp.wire_len", "COBS bytes", base.DEC, nil, nil, "bytes of the COBS run, delimiter included"),
  delimited = ProtoField.bool("itbp.delimited", "delimited", base.NONE, nil, nil, "the run ended with its 0x00 delimiter"),
  direction = ProtoField.string("itbp.direction", "direction", base.ASCII, "to_pump or from_pump (capture's epb_flags, else inferred from the flags)"),
  kind = ProtoField.string("itbp.kind", "kind", base.ASCII, "request, reply or event"),
  dropped = ProtoField.string("itbp.dropped", "dropped", base.ASCII, "why a receiver drops this run"),
  version = ProtoField.uint8("itbp.version", "version", base.DEC, nil, nil, "protocol version (1)"),
  flags = ProtoField.uint8("itbp.flags", "flags", base.HEX, nil, nil, "header flag bits"),
  flag_auth = ProtoField.bool("itbp.flags.auth", "AUTH", 8, nil, FLAG_AUTH, "authenticated: session id, counter and tag present"),
  flag_response = ProtoField.bool("itbp.flags.response", "RESPONSE", 8, nil, FLAG_RESPONSE, "a reply"),
  flag_event = ProtoField.bool("itbp.flags.event", "EVENT", 8, nil, FLAG_EVENT, "an unsolicited event"),
  flag_more = ProtoField.bool("itbp.flags.more", "MORE", 8, nil, FLAG_MORE, "streamed reply: more frames follow"),
  flag_reserved = ProtoField.uint8("itbp.flags.reserved", "reserved", base.HEX, nil, 0xF0, "must be 0"),
  msg_type = ProtoField.uint8("itbp.msg_type", "msg_type", base.HEX, VS_MSGTYPE, nil, "message number"),
  seq = ProtoField.uint16("itbp.seq", "seq", base.DEC, nil, nil, "chosen by the requester, echoed in the reply; events: the pump's counter"),
  payload_len = ProtoField.uint16("itbp.payload_len", "payload_len", base.DEC, nil, nil, "bytes of payload"),
  session_id = ProtoField.uint32("itbp.session_id", "session_id", base.HEX, nil, nil, "the session this frame belongs to"),
  counter = ProtoField.uint64("itbp.counter", "counter", base.DEC, nil, nil, "per-direction counter, strictly increasing"),
  payload = ProtoField.bytes("itbp.payload", "payload", base.NONE, "payload bytes"),
  tag = ProtoField.bytes("itbp.tag", "tag (not verified)", base.NONE, "HMAC-SHA256(direction key, header..payload)[:16]; not verified"),
  crc = ProtoField.uint32("itbp.crc", "crc", base.HEX, nil, nil, "CRC-32C over every preceding byte"),
  crc_computed = ProtoField.uint32("itbp.crc.computed", "computed crc", base.HEX, nil, nil, "CRC-32C computed by the dissector"),
  crc_good = ProtoField.bool("itbp.crc.good", "crc good", base.NONE, nil, nil, "the CRC matches"),
  status = ProtoField.uint16("itbp.status", "status", base.DEC, VS_ERRORCODE, nil, "ErrorCode of the reply (0 = OK)"),
  reason = ProtoField.string("itbp.reason", "reason", base.UNICODE, "human-readable reason of a refusal"),
}
local E = {
  bad_crc = ProtoExpert.new("itbp.crc.bad", "CRC-32C does not match", expert.group.CHECKSUM, expert.severity.ERROR),
  bad_cobs = ProtoExpert.new("itbp.cobs.bad", "not valid COBS", expert.group.MALFORMED, expert.severity.ERROR),
  malformed = ProtoExpert.new("itbp.malformed", "payload does not match the catalog's layout", expert.group.MALFORMED, expert.severity.ERROR),
  refused = ProtoExpert.new("itbp.refused", "the pump refused the request", expert.group.RESPONSE_CODE, expert.severity.NOTE),
}

do
  local list = {}
  for _, v in pairs(H) do list[#list + 1] = v end
  for _, v in ipairs(F) do list[#list + 1] = v end
  itbp.fields = list
  itbp.experts = { E.bad_crc, E.bad_cobs, E.malformed, E.refused }
end

-- bit operations: Lua 5.2 has bit32; 5.3+ has operators (compiled at run time for 5.2's parser)
local bxor, band, rshift
if bit32 then
  bxor, band, rshift = bit32.bxor, bit32.band, bit32.rshift
else
  bxor = load("return function(a, b) return a ~ b end")()
  band = load("return function(a, b) return a & b end")()
  rshift = load("return function(a, n) return (a & 0xFFFFFFFF) >> n end")()
end

local CRC_TABLE = {}
for i = 0, 255 do
  local crc = i
  for _ = 1, 8 do
    if band(crc, 1) == 1 then crc = bxor(rshift(crc, 1), 0x82F63B78) else crc = rshift(crc, 1) end
  end
  CRC_TABLE[i] = crc
end

local function crc32c(tvb, offset, length)
  local crc = 0xFFFFFFFF
  for i = offset, offset + length - 1 do
    crc = bxor(rshift(crc, 8), CRC_TABLE[band(bxor(crc, tvb(i, 1):uint()), 0xFF)])
  end
  return bxor(crc, 0xFFFFFFFF) % 4294967296
end

-- COBS decoding of bytes [0, n): a hex string of the decoded frame, or nil if not valid COBS
local function cobs_decode(tvb, n)
  local out, i = {}, 0
  while i < n do
    local code = tvb(i, 1):uint()
    if code == 0 or i + code > n then return nil end
    for j = i + 1, i + code - 1 do out[#out + 1] = string.format("%02x", tvb(j, 1):uint()) end
    i = i + code
    if code < 255 and i < n then out[#out + 1] = "00" end
  end
  return table.concat(out)
end

local function pump_time(v)
  if v == 0 then return "none" end
  return os.date("!%Y-%m-%d %H:%M:%S", v) .. " pump time"
end

local function bit_names(names, v)
  local set = {}
  for bitv, name in pairs(names) do
    if bitv ~= 0 and band(v, bitv) == bitv then set[#set + 1] = { bitv, name } end
  end
  table.sort(set, function(a, b) return a[1] < b[1] end)
  local out = {}
  for _, p in ipairs(set) do out[#out + 1] = p[2] end
  if #out == 0 then return "none" end
  return table.concat(out, "|")
end

local dissect_items

-- one descriptor at off; returns the new offset and the value read (ints), or nil on a short payload
local function dissect_one(d, tvb, off, stop, tree, values)
  local k = d.k
  if k == "int" then
    if off + d.size > stop then return nil end
    local range = tvb(off, d.size)
    local item = tree:add(d.f, range)
    local v
    if d.size == 8 then v = range:uint64() elseif d.signed then v = range:int() else v = range:uint() end
    if d.unit then item:append_text(" " .. d.unit) end
    if d.time then item:append_text(" (" .. pump_time(v) .. ")") end
    if d.bits then item:append_text(" (" .. bit_names(d.bits, v) .. ")") end
    return off + d.size, v
  elseif k == "bool" then
    if off + 1 > stop then return nil end
    tree:add(d.f, tvb(off, 1), tvb(off, 1):uint() ~= 0)
    return off + 1
  elseif k == "bytes" then
    if off + d.size > stop then return nil end
    tree:add(d.f, tvb(off, d.size))
    return off + d.size
  elseif k == "text" then
    if off + 1 > stop then return nil end
    local n = tvb(off, 1):uint()
    if off + 1 + n > stop then return nil end
    if n == 0 then tree:add(d.f, tvb(off, 1), "") else tree:add(d.f, tvb(off + 1, n), tvb(off + 1, n):string(ENC_UTF_8)) end
    return off + 1 + n
  elseif k == "rest" then
    if stop > off then tree:add(d.f, tvb(off, stop - off)) else tree:add(d.f, tvb(off, 0)) end
    return stop
  elseif k == "struct" then
    local sub = tree
    if d.f then sub = tree:add(d.f, tvb(off, 0)) end
    local start = off
    off = dissect_items(d.items, tvb, off, stop, sub, {})
    if off and d.f and off > start then sub:set_len(off - start) end
    return off
  elseif k == "switch" then
    local case = d.cases[values[d.key]]
    if case == nil then return nil end
    return dissect_items(case, tvb, off, stop, tree, {})
  elseif k == "array" then
    local n, start = d.fixed, off
    if d.count then
      if off + d.count > stop then return nil end
      n = tvb(off, d.count):uint()
    end
    local sub = tree:add(d.f, tvb(off, d.count or 0))
    sub:append_text(" (" .. n .. " items)")
    if d.count then off = off + d.count end
    for i = 1, n do
      if d.item.k == "struct" then
        local entry = sub:add(tvb(off, 0), d.item.label .. " [" .. (i - 1) .. "]")
        local entry_start = off
        off = dissect_items(d.item.items, tvb, off, stop, entry, {})
        if off == nil then return nil end
        entry:set_len(off - entry_start)
      else
        off = dissect_one(d.item, tvb, off, stop, sub, {})
        if off == nil then return nil end
      end
    end
    sub:set_len(off - start)
    return off
  end
  return nil
end

dissect_items = function(items, tvb, off, stop, tree, values)
  for _, d in ipairs(items) do
    local v
    off, v = dissect_one(d, tvb, off, stop, tree, values)
    if off == nil then return nil end
    if d.name and v ~= nil then values[d.name] = v end
  end
  return off
end

local dir_field = nil
do
  local ok, field = pcall(Field.new, "frame.packet_flags_direction")
  if ok then dir_field = field end
end

local function capture_direction()
  if dir_field then
    local ok, v = pcall(dir_field)
    if ok and v then
      local n = v.value
      if n == 1 then return "from_pump" elseif n == 2 then return "to_pump" end
    end
  end
  return nil
end

local function dissect_payload(msg, kind, dtvb, off, stop, tree, pinfo)
  local spec = MSG[msg]
  if spec == nil then
    if stop > off then tree:add(H.payload, dtvb(off, stop - off)) end
    return ""
  end
  local items
  if kind == "reply" then
    if stop - off < 2 then tree:add_proto_expert_info(E.malformed); return "" end
    local status = dtvb(off, 2):uint()
    local st = tree:add(H.status, dtvb(off, 2))
    off = off + 2
    if status ~= 0 then
      st:add_proto_expert_info(E.refused)
      local name = VS_ERRORCODE[status] or tostring(status)
      if stop > off then
        local n = dtvb(off, 1):uint()
        if off + 1 + n == stop then
          local reason = n > 0 and dtvb(off + 1, n):string(ENC_UTF_8) or ""
          tree:add(H.reason, dtvb(off, stop - off), reason)
        else
          tree:add_proto_expert_info(E.malformed)
        end
      end
      return " " .. name
    end
    items = spec.reply
  elseif kind == "event" then
    items = spec.event
  else
    items = spec.request
  end
  if items == nil then tree:add_proto_expert_info(E.malformed); return "" end
  local done = dissect_items(items, dtvb, off, stop, tree, {})
  if done == nil or done ~= stop then tree:add_proto_expert_info(E.malformed) end
  if kind == "reply" then return " OK" end
  return ""
end

function itbp.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "ITBP"
  local n = tvb:len()
  local delimited = n > 0 and tvb(n - 1, 1):uint() == 0
  local run = delimited and n - 1 or n
  local root = tree:add(itbp, tvb(), "ITBP")
  root:add(H.wire_len, tvb(), n)
  root:add(H.delimited, tvb(), delimited)
  local direction = capture_direction()
  local hex = cobs_decode(tvb, run)
  if hex == nil or run == 0 then
    root:add(H.dropped, tvb(), "BAD_COBS"):add_proto_expert_info(E.bad_cobs)
    if direction then root:add(H.direction, tvb(), direction) end
    pinfo.cols.info = "dropped BAD_COBS"
    return n
  end
  local dtvb = ByteArray.new(hex):tvb("COBS-decoded")
  local size = dtvb:len()
  if size < HEADER_SIZE + CRC_SIZE then
    root:add(H.dropped, tvb(), "TRUNCATED")
    if direction then root:add(H.direction, tvb(), direction) end
    pinfo.cols.info = "dropped TRUNCATED"
    return n
  end
  local flags = dtvb(1, 1):uint()
  local kind = "request"
  if band(flags, FLAG_EVENT) ~= 0 then kind = "event" elseif band(flags, FLAG_RESPONSE) ~= 0 then kind = "reply" end
  if direction == nil then
    direction = (kind == "request") and "to_pump" or "from_pump"
  end
  root:add(H.direction, tvb(), direction)
  root:add(H.kind, tvb(), kind)
  local msg = dtvb(2, 1):uint()
  local spec = MSG[msg]
  local msg_name = spec and spec.name or string.format("0x%02x", msg)
  root:append_text(", " .. msg_name .. " " .. kind)
  root:add(H.version, dtvb(0, 1))
  local ft = root:add(H.flags, dtvb(1, 1))
  ft:add(H.flag_auth, dtvb(1, 1))
  ft:add(H.flag_response, dtvb(1, 1))
  ft:add(H.flag_event, dtvb(1, 1))
  ft:add(H.flag_more, dtvb(1, 1))
  ft:add(H.flag_reserved, dtvb(1, 1))
  root:add(H.msg_type, dtvb(2, 1))
  root:add(H.seq, dtvb(3, 2))
  root:add(H.payload_len, dtvb(5, 2))
  local seq, plen = dtvb(3, 2):uint(), dtvb(5, 2):uint()
  local info = string.format("%s %s %s seq=%d", direction == "to_pump" and "->" or "<-", msg_name, kind, seq)
  if band(flags, FLAG_MORE) ~= 0 then info = info .. " MORE" end
  local crc_off = size - CRC_SIZE
  local computed = crc32c(dtvb, 0, crc_off)
  local good = computed == dtvb(crc_off, 4):uint()
  local payload_off, auth = HEADER_SIZE, dtvb(0, 1):uint() == PROTOCOL_VERSION and band(flags, FLAG_AUTH) ~= 0
  if auth then
    if size < HEADER_SIZE + AUTH_PREFIX_SIZE + TAG_SIZE + CRC_SIZE then
      root:add(H.dropped, tvb(), "BAD_LENGTH")
      pinfo.cols.info = info .. " dropped BAD_LENGTH"
      return n
    end
    root:add(H.session_id, dtvb(7, 4))
    root:add(H.counter, dtvb(11, 8))
    payload_off = HEADER_SIZE + AUTH_PREFIX_SIZE
    info = info .. string.format(" session=0x%08x counter=%s", dtvb(7, 4):uint(), tostring(dtvb(11, 8):uint64()))
  end
  local payload_end = auth and crc_off - TAG_SIZE or crc_off
  local length_ok = payload_end - payload_off == plen and plen <= MAX_PAYLOAD
  if not good then
    root:add(H.dropped, tvb(), "BAD_CRC")
    info = info .. " BAD_CRC"
  elseif not length_ok then
    root:add(H.dropped, tvb(), "BAD_LENGTH")
    info = info .. " BAD_LENGTH"
  end
  if length_ok and dtvb(0, 1):uint() == PROTOCOL_VERSION then
    local label = spec and (spec.name .. " " .. kind) or "payload"
    local ptree = root:add(dtvb(payload_off, plen), label)
    if plen > 0 then ptree:add(H.payload, dtvb(payload_off, plen)) end
    info = info .. (dissect_payload(msg, kind, dtvb, payload_off, payload_end, ptree, pinfo) or "")
  elseif payload_end > payload_off then
    root:add(H.payload, dtvb(payload_off, payload_end - payload_off))
  end
  if auth then
    root:add(H.tag, dtvb(payload_end, TAG_SIZE))
  end
  local ct = root:add(H.crc, dtvb(crc_off, 4))
  ct:add(H.crc_computed, dtvb(crc_off, 4), computed)
  ct:add(H.crc_good, dtvb(crc_off, 4), good)
  if not good then ct:add_proto_expert_info(E.bad_crc) end
  pinfo.cols.info = info
  return n
end

DissectorTable.get("wtap_encap"):add(wtap.USER0, itbp)
"""
