-- One wrk script for every workload; arguments after `--`:
--   mode       patch | get | put | fixed (GET of the URL's own path)
--   ids_file   user ids, one a line (random users are drawn from all of them)
--   prefix     path of the users collection, e.g. /open/v5/users
--   put_style  member (PUT prefix/@bench-<i>, an upsert) | id (PUT prefix/<userId>, json-server)
--   body_kind  realistic | typed (only upstream's typed profile keys; what Prism accepts)
--   key secret x-access-key / x-access-secret (may be "-")
-- done() prints one line "BENCHJSON {...}" with totals, status counts and latency percentiles.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "fixed"
  local ids_file = args[2] or "-"
  prefix = args[3] or "/open/v5/users"
  put_style = args[4] or "member"
  body_kind = args[5] or "realistic"
  local key, secret = args[6] or "-", args[7] or "-"
  ids = {}
  if ids_file ~= "-" then
    for line in io.lines(ids_file) do
      ids[#ids + 1] = line
    end
  end
  n_ids = #ids
  headers = { ["Content-Type"] = "application/json" }
  if key ~= "-" then
    headers["x-access-key"] = key
    headers["x-access-secret"] = secret
  end
  math.randomseed(os.time() * 1000 + (id or 0) * 7919 + math.floor(os.clock() * 1e6))
  ok200, other, statuses = 0, 0, {}
end

local function body()
  counter = counter + 1
  local r = math.random(0, 99999999)
  local unsub = (r % 2 == 0) and "true" or "false"
  local mobile = string.format("+8210%08d", r)
  if body_kind == "typed" then
    return string.format(
      '{"profile":{"name":"User %d","email":"user%d@example.com","mobileNumber":"%s",' ..
      '"recentPurchaseCount":%d},"profileOnce":{"firstName":"Ada"},' ..
      '"tags":["vip","newsletter"],"unsubscribeEmail":%s}',
      r, r, mobile, counter, unsub)
  end
  return string.format(
    '{"profile":{"name":"User %d","email":"user%d@example.com","mobileNumber":"%s",' ..
    '"plan":"plan-%d-%d"},"profileOnce":{"firstSeenCampaign":"spring-sale"},' ..
    '"tags":["vip","newsletter"],"unsubscribeEmail":%s}',
    r, r, mobile, r, counter, unsub)
end

function request()
  if mode == "fixed" then
    return wrk.format("GET", nil, headers, nil)
  end
  local i = math.random(1, n_ids)
  if mode == "get" then
    return wrk.format("GET", prefix .. "/" .. ids[i], headers, nil)
  elseif mode == "patch" then
    return wrk.format("PATCH", prefix .. "/" .. ids[i], headers, body())
  else
    local target
    if put_style == "member" then
      target = prefix .. "/@bench-" .. (i - 1)
    else
      target = prefix .. "/" .. ids[i]
    end
    return wrk.format("PUT", target, headers, body())
  end
end

function response(status, hdrs, resp_body)
  if status == 200 then
    ok200 = ok200 + 1
  else
    other = other + 1
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
  end
end

function done(summary, latency, requests)
  local ok, nother, merged = 0, 0, {}
  for _, t in ipairs(threads) do
    ok = ok + t:get("ok200")
    nother = nother + t:get("other")
    for k, v in pairs(t:get("statuses")) do
      merged[k] = (merged[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(merged) do
    parts[#parts + 1] = string.format('"%s":%d', k, v)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"ok200":%d,"other":%d,"statuses":{%s},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, ok, nother, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
