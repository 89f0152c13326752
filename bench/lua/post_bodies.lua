-- POST (or GET) a random line of BODIES_FILE to the URL given to wrk.
-- Environment:
--   BENCH_LUA_DIR  directory holding common.lua
--   BODIES_FILE    one JSON body per line (for GET: ignored, may be empty)
--   BENCH_AUTH     optional Authorization header value
--   BENCH_METHOD   POST (default) or GET
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local method = os.getenv("BENCH_METHOD") or "POST"
local auth = os.getenv("BENCH_AUTH")
local headers = { ["Content-Type"] = "application/json" }
if auth and auth ~= "" then headers["Authorization"] = auth end

local bodies = {}
local file = os.getenv("BODIES_FILE")
if file and file ~= "" then
  for line in io.lines(file) do
    if line ~= "" then bodies[#bodies + 1] = line end
  end
end

setup = C.setup
done = C.done

function init(args)
  math.randomseed(os.time() + tid)
end

function request()
  if method == "GET" or #bodies == 0 then
    return wrk.format(method, nil, headers, nil)
  end
  return wrk.format(method, nil, headers, bodies[math.random(#bodies)])
end
