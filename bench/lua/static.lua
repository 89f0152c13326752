-- Static request (the URL given to wrk), only adds the WRK_RESULT summary line.
-- Used for the GET /_version ceiling.  Environment: BENCH_LUA_DIR.
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
setup = C.setup
done = C.done
