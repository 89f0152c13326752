-- GET PREFIX .. key .. SUFFIX with a uniformly random key from KEYS_FILE.
-- Environment:
--   BENCH_LUA_DIR  directory holding common.lua (set by run.sh)
--   KEYS_FILE      one fixed-width key per line (dids.txt or md5s.txt from gen_manifest.py)
--   PATH_PREFIX    e.g. /index/index/  or  /index/index/?hash=md5:
--   PATH_SUFFIX    e.g. &limit=10 (optional)
--   BENCH_AUTH     optional Authorization header value
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local keys
local prefix = C.env("PATH_PREFIX")
local suffix = os.getenv("PATH_SUFFIX") or ""
local headers = {}
if os.getenv("BENCH_AUTH") then headers["Authorization"] = os.getenv("BENCH_AUTH") end

setup = C.setup
done = C.done

function init(args)
  keys = C.load_keys(C.env("KEYS_FILE"))
  math.randomseed((tid or 0) * 7919 + os.time())
end

function request()
  return wrk.format("GET", prefix .. keys:random() .. suffix, headers)
end
