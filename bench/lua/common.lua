-- Shared helpers for the weft wrk scripts (loaded with dofile by each script).
-- Every script prints one machine-readable line at the end:
--   WRK_RESULT requests=N duration_us=N rps=F p50_us=N p90_us=N p99_us=N
--              max_us=N err_connect=N err_read=N err_write=N err_status=N err_timeout=N
-- bench/run.sh parses that line; the normal wrk report is printed too.

local M = {}

-- Load a file of fixed-width keys, one per line (dids.txt / md5s.txt from
-- gen_manifest.py), as ONE string; keyset:get(i) slices key i out of it.
-- Reading one string takes milliseconds even for a million keys, whereas
-- building a Lua table of a million strings takes ~1s per wrk thread, and wrk
-- starts its clock only after every thread's init(): a slow init would let
-- thread 1 send uncounted-time requests and inflate req/s.
function M.load_keys(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local nl = data:find("\n", 1, true)
  if not nl or nl < 2 then error("no keys in " .. path) end
  local width = nl - 1
  local stride = width + 1
  if #data % stride ~= 0 then
    error(path .. ": keys must all have the same length (" .. width .. ") and end with a newline")
  end
  local n = #data / stride
  return {
    n = n,
    get = function(self, i) -- 1-based
      local off = (i - 1) * stride
      return data:sub(off + 1, off + width)
    end,
    random = function(self)
      local off = (math.random(n) - 1) * stride
      return data:sub(off + 1, off + width)
    end,
  }
end

function M.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error("environment variable " .. name .. " is required") end
    return default
  end
  return v
end

-- Give every wrk thread a distinct id (visible as the global `tid` in the
-- thread's own Lua state) so random streams and generated keys differ.
local next_tid = 0
function M.setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function M.done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end

return M
