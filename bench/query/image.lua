-- wrk script: POST /api/v1/search/image with the picture in BENCH_IMAGE (multipart fields
-- `k`=10 and `image`), the same bytes every time.
package.path = package.path .. ";bench/query/?.lua"
require "common"

local path = os.getenv("BENCH_IMAGE") or "bench/tmp/query-1mp.jpg"
local f = assert(io.open(path, "rb"))
local data = f:read("*all")
f:close()
local boundary = "----shihuabench7d1f0c"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
   .. 'Content-Disposition: form-data; name="k"\r\n\r\n10\r\n'
   .. "--" .. boundary .. "\r\n"
   .. 'Content-Disposition: form-data; name="image"; filename="query.jpg"\r\n'
   .. "Content-Type: image/jpeg\r\n\r\n" .. data .. "\r\n"
   .. "--" .. boundary .. "--\r\n"
wrk.path = "/api/v1/search/image"

done = json_done
