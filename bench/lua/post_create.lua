-- POST /index/index/ with a unique body per request (unique md5, url, file_name).
-- Environment:
--   BENCH_LUA_DIR  directory holding common.lua (set by run.sh / kill9_check.sh)
--   BENCH_AUTH     value of the Authorization header ("Basic base64(user:pass)")
--   RUN_TAG        integer < 2^32 that makes bodies unique across runs (default: time)
--   ACK_DIR        optional: if set, every 200 response's did is appended to
--                  ACK_DIR/acked-<thread>.txt (used by kill9_check.sh); the
--                  file is line-buffered so a did is on disk once wrk has seen it
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local auth = C.env("BENCH_AUTH")
local tag = tonumber(os.getenv("RUN_TAG") or "") or (os.time() % 4294967296)
local ack_dir = os.getenv("ACK_DIR")
if ack_dir == "" then ack_dir = nil end

local counter = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = auth,
}

setup = C.setup
done = C.done

local ack_file

function init(args)
  if ack_dir then
    ack_file = assert(io.open(ack_dir .. "/acked-" .. tid .. ".txt", "a"))
    ack_file:setvbuf("line")
  end
end

function request()
  counter = counter + 1
  -- 8 hex tag + 8 hex thread + 16 hex counter = 32 hex digits, unique per request.
  local md5 = string.format("%08x%08x%016x", tag, tid, counter)
  local key = string.format("%x/%d/%d", tag, tid, counter)
  local body = '{"form":"object","size":' .. counter ..
    ',"hashes":{"md5":"' .. md5 .. '"}' ..
    ',"urls":["s3://weft-bench-post/' .. key .. '"]' ..
    ',"authz":["/programs/bench/projects/post"]' ..
    ',"file_name":"post-' .. counter .. '.bin"}'
  return wrk.format("POST", "/index/index/", headers, body)
end

if ack_dir then
  -- Only defined when needed: defining response() makes wrk parse every body.
  function response(status, hdrs, body)
    if status == 200 then
      local did = body:match('"did"%s*:%s*"([^"]+)"')
      if did then
        ack_file:write(did, "\n")
      else
        ack_file:write("#NODID ", body:sub(1, 200):gsub("\n", " "), "\n")
      end
    end
  end
end
