-- wrk script for bench/http_wrk.py (`python bench/run.py http`).
--
-- The benchmark writes a Lua file returning a table and names it in CHRONICLE_WRK_CONFIG:
--   mode        "docs" | "chronology" | "register" | "mixed"
--   token       a bearer token; purpose: the X-Purpose header
--   pupils      pupil ids, read in turn (chronology)
--   pages       { {path = "/register?limit=50&offset=0", first = "<first pupil id>", rows = 50} }
--   writers     { {id = "<pupil id>", version = N} }: pupils only this run writes to
--
-- "docs", "chronology" and "register" rotate paths in request() and leave the latency to wrk
-- (--latency; done() prints its percentiles). "mixed" sends, of every 10 requests, 7
-- chronology reads, 2 register pages and 1 concern write with If-Match; each writer pupil has
-- at most one write in flight and its next If-Match is the version the last 201 gave. With one
-- thread wrk does not say which connection a response came on, so response() pairs it with its
-- request by what the body names (the pupil of a chronology or a write, the first pupil of a
-- register page) and times each kind itself (CLOCK_MONOTONIC through LuaJIT's ffi).
-- done() prints one line, "CHRONICLE_RESULT <json>", that the benchmark reads.

local cfg = dofile(os.getenv("CHRONICLE_WRK_CONFIG"))

local ffi = require("ffi")
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } chronicle_timespec;
int clock_gettime(int clk_id, chronicle_timespec *tp);
]])
local ts = ffi.new("chronicle_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local read_headers = {
  ["Authorization"] = "Bearer " .. cfg.token,
  ["X-Purpose"] = cfg.purpose,
}
local write_headers = {
  ["Authorization"] = "Bearer " .. cfg.token,
  ["X-Purpose"] = cfg.purpose,
  ["Content-Type"] = "application/json",
}

local chronology, pages, first_page = {}, {}, {}
local free, version = {}, {}
local n, next_chronology, next_page = 0, 0, 0

-- Per thread (there is one); done() collects them with thread:get.
ok = { chronology = 0, register = 0, write = 0, other = 0 }
rows_shown = 0
rows_pending = 0 -- what reads sent and not (yet) answered would show
statuses = {}
-- thread:get copies flat tables only (a nested one crashes wrk 4.1), so one list per kind.
lat_chronology, lat_register, lat_write = {}, {}, {}
local latencies = { chronology = lat_chronology, register = lat_register, write = lat_write }
unpaired = 0
writes_skipped = 0
local inflight = {}

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, id in ipairs(cfg.pupils or {}) do
    chronology[i] = wrk.format("GET", "/pupils/" .. id .. "/chronology", read_headers)
  end
  for i, page in ipairs(cfg.pages or {}) do
    pages[i] = wrk.format("GET", page.path, read_headers)
    first_page[page.first] = page.rows
  end
  for _, w in ipairs(cfg.writers or {}) do
    table.insert(free, w.id)
    version[w.id] = w.version
  end
  if cfg.mode == "docs" then
    docs_request = wrk.format("GET", "/docs", read_headers)
  end
end

local function started(key)
  local queue = inflight[key]
  if queue == nil then
    queue = {}
    inflight[key] = queue
  end
  table.insert(queue, now_us())
end

local function finished(kind, key, at)
  local queue = inflight[key]
  if queue == nil or #queue == 0 then
    unpaired = unpaired + 1
    return
  end
  local t0 = table.remove(queue, 1)
  local list = latencies[kind]
  list[#list + 1] = (at - t0) / 1000 -- ms
end

local function next_chronology_request(keyed)
  next_chronology = next_chronology % #chronology + 1
  if keyed then
    started("c" .. cfg.pupils[next_chronology])
    rows_pending = rows_pending + 1
  end
  return chronology[next_chronology]
end

local function next_page_request(keyed)
  next_page = next_page % #pages + 1
  if keyed then
    started("r" .. cfg.pages[next_page].first)
    rows_pending = rows_pending + cfg.pages[next_page].rows
  end
  return pages[next_page]
end

local function write_request()
  local id = table.remove(free)
  started("w" .. id)
  local headers = {}
  for k, v in pairs(write_headers) do
    headers[k] = v
  end
  headers["If-Match"] = tostring(version[id])
  local body = '{"source":"teacher","description":"Benchmark concern ' .. n .. '"}'
  return wrk.format("POST", "/pupils/" .. id .. "/concerns", headers, body)
end

function request()
  if cfg.mode == "docs" then
    return docs_request
  elseif cfg.mode == "chronology" then
    return next_chronology_request(false)
  elseif cfg.mode == "register" then
    return next_page_request(false)
  end
  n = n + 1
  local slot = n % 10
  if slot == 9 then
    if #free > 0 then
      return write_request()
    end
    writes_skipped = writes_skipped + 1
    return next_chronology_request(true)
  elseif slot >= 7 then
    return next_page_request(true)
  end
  return next_chronology_request(true)
end

local function mixed_response(status, headers, body)
  local at = now_us()
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    return
  end
  local head = body:sub(1, 160)
  if status == 201 then
    local id = head:match('"pupil_id":"([%x%-]+)"')
    local v = head:match('"version":(%d+)')
    if id ~= nil and v ~= nil then
      version[id] = tonumber(v)
      table.insert(free, id)
      ok.write = ok.write + 1
      finished("write", "w" .. id, at)
      return
    end
  elseif head:sub(1, 9) == '{"total":' then
    local id = head:match('"pupil_id":"([%x%-]+)"')
    if id ~= nil and first_page[id] ~= nil then
      ok.register = ok.register + 1
      rows_shown = rows_shown + first_page[id]
      rows_pending = rows_pending - first_page[id]
      finished("register", "r" .. id, at)
      return
    end
  else
    local id = head:match('^{"pupil_id":"([%x%-]+)"')
    if id ~= nil then
      ok.chronology = ok.chronology + 1
      rows_shown = rows_shown + 1
      rows_pending = rows_pending - 1
      finished("chronology", "c" .. id, at)
      return
    end
  end
  ok.other = ok.other + 1
end

if cfg.mode == "mixed" then
  response = mixed_response
end

local function percentile(sorted, p)
  if #sorted == 0 then
    return nil
  end
  local i = math.ceil(#sorted * p / 100)
  if i < 1 then
    i = 1
  end
  return sorted[i]
end

local function json(value)
  local t = type(value)
  if t == "nil" then
    return "null"
  elseif t == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      return "null"
    end
    return string.format("%.17g", value)
  elseif t == "boolean" then
    return tostring(value)
  elseif t == "string" then
    return '"' .. value:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  end
  local parts = {}
  if #value > 0 then
    for _, v in ipairs(value) do
      parts[#parts + 1] = json(v)
    end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for k, v in pairs(value) do
    parts[#parts + 1] = json(tostring(k)) .. ":" .. json(v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local out = {
    mode = cfg.mode,
    duration_s = summary.duration / 1000000,
    requests = summary.requests,
    bytes = summary.bytes,
    socket_errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      timeout = summary.errors.timeout,
    },
    status_errors = summary.errors.status, -- wrk: answers with a status > 399
    p50_ms = latency:percentile(50) / 1000,
    p99_ms = latency:percentile(99) / 1000,
    mean_ms = latency.mean / 1000,
    max_ms = latency.max / 1000,
  }
  if cfg.mode == "mixed" then
    local kinds, ok_total, statuses_total = {}, {}, {}
    local unpaired_total, skipped, shown, pending = 0, 0, 0, 0
    for _, thread in ipairs(threads) do
      for _, kind in ipairs({ "chronology", "register", "write" }) do
        kinds[kind] = kinds[kind] or {}
        for _, v in ipairs(thread:get("lat_" .. kind)) do
          table.insert(kinds[kind], v)
        end
      end
      for k, v in pairs(thread:get("ok")) do
        ok_total[k] = (ok_total[k] or 0) + v
      end
      for k, v in pairs(thread:get("statuses")) do
        statuses_total[tostring(k)] = (statuses_total[tostring(k)] or 0) + v
      end
      unpaired_total = unpaired_total + thread:get("unpaired")
      skipped = skipped + thread:get("writes_skipped")
      shown = shown + thread:get("rows_shown")
      pending = pending + thread:get("rows_pending")
    end
    local per_kind = {}
    for kind, list in pairs(kinds) do
      table.sort(list)
      per_kind[kind] = {
        timed = #list,
        p50_ms = percentile(list, 50),
        p99_ms = percentile(list, 99),
      }
    end
    out.kinds = per_kind
    out.ok = ok_total
    out.statuses = statuses_total
    out.unpaired = unpaired_total
    out.writes_skipped = skipped
    out.rows_shown = shown
    out.rows_pending = pending
  end
  io.write("CHRONICLE_RESULT " .. json(out) .. "\n")
end
