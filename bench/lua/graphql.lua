-- POST one GraphQL query (GQL_QUERY, a JSON-encoded request body) with a bearer token
-- (GQL_TOKEN) to the URL given to wrk; adds the WRK_RESULT summary line.
-- Environment: BENCH_LUA_DIR, GQL_BODY_FILE (a file holding the JSON body), GQL_TOKEN.
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
setup = C.setup
done = C.done
local f = assert(io.open(os.getenv("GQL_BODY_FILE"), "r"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "bearer " .. os.getenv("GQL_TOKEN")
